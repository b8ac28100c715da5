// Line diffs of two texts: the edit script (LCS after trimming the common ends), grouped into
// hunks with context for the inline view, or paired into rows for the side-by-side view.

export type Op = { kind: 'same' | 'del' | 'add'; text: string; a?: number; b?: number };

/** The line edit script turning `a` into `b` (line numbers 1-based). */
export function diffLines(aText: string, bText: string): Op[] {
  const a = aText === '' ? [] : aText.split('\n');
  const b = bText === '' ? [] : bText.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops: Op[] = [];
  for (let i = 0; i < start; i++) ops.push({ kind: 'same', text: a[i], a: i + 1, b: i + 1 });
  const n = endA - start;
  const m = endB - start;
  // LCS lengths over the middle, from the end, in one flat table
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] =
        a[start + i] === b[start + j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      ops.push({ kind: 'same', text: a[start + i], a: start + i + 1, b: start + j + 1 });
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j])) {
      ops.push({ kind: 'add', text: b[start + j], b: start + j + 1 });
      j++;
    } else {
      ops.push({ kind: 'del', text: a[start + i], a: start + i + 1 });
      i++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) {
    ops.push({ kind: 'same', text: a[endA + k], a: endA + k + 1, b: endB + k + 1 });
  }
  return ops;
}

/** The script as unchanged lines and changed runs (the deletions and additions between two
 * unchanged lines). */
function runs(ops: Op[]): (Op | { dels: Op[]; adds: Op[] })[] {
  const out: (Op | { dels: Op[]; adds: Op[] })[] = [];
  let run: { dels: Op[]; adds: Op[] } | null = null;
  for (const op of ops) {
    if (op.kind === 'same') {
      if (run) out.push(run);
      run = null;
      out.push(op);
    } else {
      run ??= { dels: [], adds: [] };
      (op.kind === 'del' ? run.dels : run.adds).push(op);
    }
  }
  if (run) out.push(run);
  return out;
}

/** Deletions before additions inside each changed run (how people read a change). */
function normalize(ops: Op[]): Op[] {
  return runs(ops).flatMap((r) => ('kind' in r ? [r] : [...r.dels, ...r.adds]));
}

export interface Hunk {
  /** A "@@ -a,n +b,m @@" header. */
  header: string;
  lines: Op[];
}

/** Inline hunks with `context` unchanged lines around each change. */
export function hunks(ops: Op[], context = 3): Hunk[] {
  const norm = normalize(ops);
  const changed = norm.map((o, i) => (o.kind !== 'same' ? i : -1)).filter((i) => i >= 0);
  if (!changed.length) return [];
  const ranges: [number, number][] = [];
  for (const i of changed) {
    const lo = Math.max(0, i - context);
    const hi = Math.min(norm.length - 1, i + context);
    const last = ranges.at(-1);
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else ranges.push([lo, hi]);
  }
  return ranges.map(([lo, hi]) => {
    const lines = norm.slice(lo, hi + 1);
    const aStart = lines.find((l) => l.a !== undefined)?.a ?? 0;
    const bStart = lines.find((l) => l.b !== undefined)?.b ?? 0;
    const aLen = lines.filter((l) => l.kind !== 'add').length;
    const bLen = lines.filter((l) => l.kind !== 'del').length;
    return { header: `@@ -${aStart},${aLen} +${bStart},${bLen} @@`, lines };
  });
}

export interface Row {
  left?: Op;
  right?: Op;
}

/** Side-by-side rows: unchanged lines on both sides, a changed run paired line by line. */
export function sideBySide(ops: Op[]): Row[] {
  return runs(ops).flatMap((r) =>
    'kind' in r
      ? [{ left: r, right: r }]
      : Array.from({ length: Math.max(r.dels.length, r.adds.length) }, (_, k) => ({ left: r.dels[k], right: r.adds[k] })),
  );
}

/** Counts of added and removed lines. */
export function stats(ops: Op[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const o of ops) {
    if (o.kind === 'add') added++;
    else if (o.kind === 'del') removed++;
  }
  return { added, removed };
}
