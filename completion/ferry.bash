# bash completion for ferry. Installed as
# share/bash-completion/completions/ferry; bash-completion loads it on demand.
# Commands and options are read from ferry's own help, so they never drift
# from the binary: `ferry help` lists the commands, `ferry CMD --help` the
# options of one (every word starting with "-").

_ferry_commands()
{
	"$1" help 2>/dev/null | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'
}

_ferry_options()
{
	"$1" "$2" --help 2>/dev/null | grep -oE '(^|[[:space:],[])--?[a-zA-Z][-a-zA-Z0-9]*' |
		sed -E 's/^[[:space:],[]//' | sort -u
}

_ferry()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local ferry=${COMP_WORDS[0]}
	local i cmd="" sub=""
	COMPREPLY=()
	# The first word that is not an option is the command.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			if [ -z "$cmd" ]; then
				cmd=${COMP_WORDS[i]}
			elif [ -z "$sub" ]; then
				sub=${COMP_WORDS[i]}
			fi
			;;
		esac
	done
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-q -v -vv --json --help --version" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$(_ferry_commands "$ferry")" -- "$cur")
		fi
		return 0
	fi
	case $cmd in
	help)
		[ -z "$sub" ] && mapfile -t COMPREPLY < <(compgen -W "$(_ferry_commands "$ferry")" -- "$cur")
		return 0
		;;
	app | catalog | batch | serve | apptainer)
		# Commands with subcommands: the first word after them.
		local subs
		case $cmd in
		app) subs="validate invocation simulate example launch test pull" ;;
		catalog) subs="sync list" ;;
		batch) subs="submit status wait outputs resume cancel run-task" ;;
		serve) subs="user" ;;
		apptainer) subs="exec run shell pull build inspect version cache" ;;
		esac
		if [ -z "$sub" ] && [[ $cur != -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur")
			return 0
		fi
		;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_ferry_options "$ferry" "$cmd")" -- "$cur")
		return 0
	fi
	# Image references, descriptors, directories: complete file names.
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	compopt -o filenames 2>/dev/null
	return 0
}

complete -F _ferry ferry
