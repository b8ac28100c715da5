import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffLines, hunks, sideBySide, stats } from '../src/diff';

test('line diffs: edit scripts for the shapes manifests take', () => {
  const cases: { name: string; a: string; b: string; added: number; removed: number }[] = [
    { name: 'equal', a: 'x\ny', b: 'x\ny', added: 0, removed: 0 },
    { name: 'one line changed', a: 'a\nb\nc', b: 'a\nB\nc', added: 1, removed: 1 },
    { name: 'appended', a: 'a', b: 'a\nb\nc', added: 2, removed: 0 },
    { name: 'removed at the start', a: 'a\nb\nc', b: 'c', added: 0, removed: 2 },
    { name: 'from nothing', a: '', b: 'a\nb', added: 2, removed: 0 },
    { name: 'to nothing', a: 'a\nb', b: '', added: 0, removed: 2 },
    { name: 'moved line', a: 'a\nb\nc\nd', b: 'b\nc\na\nd', added: 1, removed: 1 },
  ];
  for (const c of cases) {
    const ops = diffLines(c.a, c.b);
    assert.deepEqual(stats(ops), { added: c.added, removed: c.removed }, c.name);
    // applying the script gives b back; dropping additions gives a back
    assert.equal(ops.filter((o) => o.kind !== 'del').map((o) => o.text).join('\n'), c.b, `${c.name}: b`);
    assert.equal(ops.filter((o) => o.kind !== 'add').map((o) => o.text).join('\n'), c.a, `${c.name}: a`);
  }
});

test('hunks keep three lines of context and number both sides', () => {
  const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n');
  const b = a.replace('line 10', 'line ten');
  const hs = hunks(diffLines(a, b));
  assert.equal(hs.length, 1);
  assert.equal(hs[0].header, '@@ -7,7 +7,7 @@');
  assert.deepEqual(
    hs[0].lines.map((l) => `${l.kind}:${l.text}`),
    ['same:line 7', 'same:line 8', 'same:line 9', 'del:line 10', 'add:line ten', 'same:line 11', 'same:line 12', 'same:line 13'],
  );
  // two far-apart changes make two hunks, near ones merge
  assert.equal(hunks(diffLines(a, b.replace('line 19', 'x'))).length, 2);
  assert.equal(hunks(diffLines(a, b.replace('line 13', 'x'))).length, 1);
});

test('side by side pairs a changed run line by line', () => {
  const rows = sideBySide(diffLines('a\nb\nc\nd', 'a\nB\nC\nX\nd'));
  assert.deepEqual(
    rows.map((r) => [r.left?.text ?? null, r.right?.text ?? null]),
    [
      ['a', 'a'],
      ['b', 'B'],
      ['c', 'C'],
      [null, 'X'],
      ['d', 'd'],
    ],
  );
});
