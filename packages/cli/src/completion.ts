import type { Command } from 'commander';

/**
 * Shell completion for `accsyn`, made from the program itself so that it never falls behind: the commands, their
 * subcommands and their options. `eval "$(accsyn completion bash)"` in ~/.bashrc, or the zsh form in ~/.zshrc.
 */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const lines: string[] = [];
  const walk = (command: Command, path: string) => {
    const words = [
      ...command.commands.map((sub) => sub.name()),
      ...command.options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => !!flag)),
    ];
    lines.push(`    ${quote(path)}) words=${quote(words.join(' '))} ;;`);
    for (const sub of command.commands) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`);
  };
  walk(program, '');
  const bash = `# accsyn completion for bash: eval "$(accsyn completion bash)"
_accsyn() {
  local cur path="" words="" i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) path="\${path:+$path }\${COMP_WORDS[i]}" ;; esac
  done
  while :; do
    case "$path" in
${lines.join('\n')}
    *) if [ "$path" = "\${path% *}" ]; then path=""; else path="\${path% *}"; fi; continue ;;
    esac
    break
  done
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _accsyn accsyn
`;
  if (shell === 'bash') return bash;
  return `# accsyn completion for zsh: eval "$(accsyn completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
