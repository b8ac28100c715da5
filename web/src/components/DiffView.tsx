// A manifest diff, inline (hunks) or side by side. Secrets arrive masked from the server.

import { useMemo } from 'preact/hooks';
import { diffLines, hunks, sideBySide, stats } from '../diff';

export function DiffView({
  live,
  desired,
  mode,
  title,
}: {
  live: string;
  desired: string;
  mode: 'inline' | 'split';
  title?: string;
}) {
  const ops = useMemo(() => diffLines(live, desired), [live, desired]);
  const s = stats(ops);
  if (!s.added && !s.removed) {
    return (
      <div class="diff diff-none">
        {title ? <h3 class="diff-title">{title}</h3> : null}
        <p class="muted">No differences.</p>
      </div>
    );
  }
  return (
    <div class="diff" data-diff-mode={mode}>
      {title ? (
        <h3 class="diff-title">
          {title}{' '}
          <span class="diff-stats">
            <span class="add">+{s.added}</span> <span class="del">−{s.removed}</span>
          </span>
        </h3>
      ) : null}
      {mode === 'inline' ? (
        <table class="diff-table inline" aria-label={`Diff of ${title ?? 'the manifest'}: live (−) against desired (+)`}>
          <colgroup>
            <col class="ln-col" />
            <col class="ln-col" />
            <col />
          </colgroup>
          <tbody>
            {hunks(ops).map((h, hi) => [
              <tr class="hunk" key={`h${hi}`}>
                <td colSpan={3}>{h.header}</td>
              </tr>,
              ...h.lines.map((l, li) => (
                <tr class={`line ${l.kind}`} key={`${hi}-${li}`}>
                  <td class="ln">{l.a ?? ''}</td>
                  <td class="ln">{l.b ?? ''}</td>
                  <td class="code">
                    <span class="sign" aria-hidden="true">
                      {l.kind === 'add' ? '+' : l.kind === 'del' ? '−' : ' '}
                    </span>
                    <span class={l.kind === 'same' ? '' : 'sr-only'}>{l.kind === 'add' ? 'added: ' : l.kind === 'del' ? 'removed: ' : ''}</span>
                    {l.text}
                  </td>
                </tr>
              )),
            ])}
          </tbody>
        </table>
      ) : (
        <table class="diff-table split" aria-label={`Diff of ${title ?? 'the manifest'}: live on the left, desired on the right`}>
          <colgroup>
            <col class="ln-col" />
            <col />
            <col class="ln-col" />
            <col />
          </colgroup>
          <thead>
            <tr>
              <th colSpan={2}>Live</th>
              <th colSpan={2}>Desired</th>
            </tr>
          </thead>
          <tbody>
            {sideBySide(ops).map((r, i) => (
              <tr key={i}>
                <td class="ln">{r.left?.a ?? ''}</td>
                <td class={`code ${r.left ? r.left.kind : 'empty'}`}>{r.left?.text ?? ''}</td>
                <td class="ln">{r.right?.b ?? ''}</td>
                <td class={`code ${r.right ? r.right.kind : 'empty'}`}>{r.right?.text ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
