# tests/complete.zsh - types lines into an interactive zsh and prints what
# <TAB> made of each.
#
#   zsh -f complete.zsh COMPDIR BINDIR WORKDIR LINE...
#
# A real zsh on a pseudo-terminal (zsh/zpty) with compinit and COMPDIR on
# its fpath, BINDIR first on its PATH and WORKDIR as its directory, so the
# completion runs exactly as it does for a user. After each LINE and <TAB>,
# a widget bound to ^X writes the edited line to a file and clears it.
zmodload zsh/zpty || exit 1
compdir=$1 bindir=$2 workdir=$3
shift 3
out=$workdir/.zsh-buffer
zpty z zsh -f -i
zpty -w z "PS1=''; fpath=(${(q)compdir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "PATH=${(q)bindir}:\$PATH; cd ${(q)workdir}"
zpty -w z "dump() { print -r -- \"\$BUFFER\" >| ${(q)out}.new && mv ${(q)out}.new ${(q)out}; BUFFER= }"
zpty -w z "zle -N dump; bindkey '^X' dump"
for line in "$@"; do
    rm -f $out
    zpty -w -n z "$line"$'\t\x18'
    integer i=0
    while [[ ! -f $out ]] && (( i++ < 400 )); do
        sleep 0.05
    done
    print -r -- "${$(<$out 2>/dev/null):-(no answer)}"
done
zpty -d z
