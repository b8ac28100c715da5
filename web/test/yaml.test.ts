import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseState, toYaml } from '../src/yaml';

test('toYaml prints manifests as kubectl does', () => {
  const cases: [string, unknown, string][] = [
    ['scalars', { a: 1, b: true, c: null, d: 'text' }, 'a: 1\nb: true\nc: null\nd: text'],
    ['strings that would change type are quoted', { a: 'true', b: '123', c: '', d: 'yes', e: '1.5', f: 'null' }, 'a: "true"\nb: "123"\nc: ""\nd: "yes"\ne: "1.5"\nf: "null"'],
    ['strings with YAML syntax are quoted', { a: 'x: y', b: '- item', c: '#x', d: ' lead', e: '*ref' }, 'a: "x: y"\nb: "- item"\nc: "#x"\nd: " lead"\ne: "*ref"'],
    ['nested maps and lists', { metadata: { name: 'x', labels: { app: 'web' } }, list: [1, 'a'] }, 'metadata:\n  name: x\n  labels:\n    app: web\nlist:\n- 1\n- a'],
    ['lists of maps', { containers: [{ name: 'a', image: 'i:1' }, { name: 'b' }] }, 'containers:\n- name: a\n  image: i:1\n- name: b'],
    ['empty collections', { a: [], b: {} }, 'a: []\nb: {}'],
    ['multi-line strings as blocks', { script: 'echo 1\necho 2\n' }, 'script: |\n  echo 1\n  echo 2'],
    ['multi-line without a final newline', { s: 'a\nb' }, 's: |-\n  a\n  b'],
    ['keys that need quotes', { 'a: b': 1, '': 2 }, '"a: b": 1\n"": 2'],
  ];
  for (const [name, input, want] of cases) assert.equal(toYaml(input), want, name);
});

test('parseState reads the API JSON text', () => {
  assert.equal(parseState(null), null);
  assert.equal(parseState('null'), null);
  assert.deepEqual(parseState('{"a":1}'), { a: 1 });
  assert.equal(parseState('not json'), 'not json');
});
