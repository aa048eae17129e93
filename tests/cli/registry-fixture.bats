#!/usr/bin/env bats
# The registry fixture itself (tests/lib/registry.bash): it must come up over
# HTTP and TLS and answer the v2 API, or every pull test would mislead.

load ../lib/common
load ../lib/registry

teardown() {
	registry_stop
}

@test "fixture: plain HTTP registry answers /v2/" {
	registry_start
	run curl -sS -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
	[ "$status" -eq 0 ]
	[ "$output" = 200 ]
}

@test "fixture: TLS registry answers /v2/ with the throw-away CA, and only with it" {
	registry_start --tls
	run curl -sS -o /dev/null -w '%{http_code}' --cacert "$REGISTRY_CA" "https://$REGISTRY/v2/"
	[ "$status" -eq 0 ]
	[ "$output" = 200 ]
	run curl -sS -o /dev/null "https://$REGISTRY/v2/"
	[ "$status" -ne 0 ] # the system store does not know the test CA
}

@test "fixture: basic auth registry wants the password" {
	registry_start --auth basic
	run curl -sS -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/"
	[ "$output" = 401 ]
	run curl -sS -o /dev/null -w '%{http_code}' -u "$REGISTRY_USER:$REGISTRY_PASSWORD" "http://$REGISTRY/v2/"
	[ "$output" = 200 ]
}

@test "fixture: token auth registry accepts the token server's tokens" {
	registry_start --auth token
	run curl -sS -D - -o /dev/null "http://$REGISTRY/v2/"
	[[ "$output" == *"Bearer realm=\"$TOKEN_REALM\""* ]]
	tok=$(curl -sS "$TOKEN_REALM?service=ferry-test" | jq -r .token)
	run curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://$REGISTRY/v2/"
	[ "$output" = 200 ]
}
