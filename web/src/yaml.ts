// JSON → YAML text for manifests, as `kubectl get -o yaml` prints them: block style, keys in
// the object's order, strings quoted only when plain YAML would read them differently.

const PLAIN_UNSAFE = /^[\s\-?:,[\]{}#&*!|>'"%@`]|[\s]$|: |\s#|^$/;
const LOOKS_TYPED = /^(?:true|false|yes|no|on|off|y|n|null|~|[-+]?(?:\d[\d_]*)?(?:\.\d+)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/i;

function scalar(s: string): string {
  if (PLAIN_UNSAFE.test(s) || LOOKS_TYPED.test(s) || /[\u0000-\u001f\u007f]/.test(s)) {
    return JSON.stringify(s);
  }
  return s;
}

function key(k: string): string {
  return scalar(k);
}

function isEmptyCollection(v: unknown): string | null {
  if (Array.isArray(v) && v.length === 0) return '[]';
  if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return '{}';
  return null;
}

function block(s: string, indent: string): string {
  const chomp = s.endsWith('\n') ? '' : '-';
  const body = s.endsWith('\n') ? s.slice(0, -1) : s;
  const lead = /^\s/.test(body) ? '2' : '';
  return `|${lead}${chomp}\n${body
    .split('\n')
    .map((l) => (l ? indent + l : ''))
    .join('\n')}`;
}

function value(v: unknown, indent: string): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    if (v.includes('\n') && !/[\u0000-\u0009\u000b-\u001f]/.test(v) && !/ \n|\n $/.test(v)) return block(v, indent + '  ');
    return scalar(v);
  }
  return '';
}

function emit(v: unknown, indent: string, out: string[]): void {
  if (Array.isArray(v)) {
    for (const item of v) {
      const empty = isEmptyCollection(item);
      if (empty) out.push(`${indent}- ${empty}`);
      else if (item && typeof item === 'object') {
        const sub: string[] = [];
        emit(item, indent + '  ', sub);
        out.push(`${indent}- ${sub[0].slice(indent.length + 2)}`, ...sub.slice(1));
      } else out.push(`${indent}- ${value(item, indent)}`);
    }
    return;
  }
  if (v && typeof v === 'object') {
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      const empty = isEmptyCollection(item);
      if (empty) out.push(`${indent}${key(k)}: ${empty}`);
      else if (Array.isArray(item)) {
        out.push(`${indent}${key(k)}:`);
        emit(item, indent, out);
      } else if (item && typeof item === 'object') {
        out.push(`${indent}${key(k)}:`);
        emit(item, indent + '  ', out);
      } else out.push(`${indent}${key(k)}: ${value(item, indent)}`);
    }
    return;
  }
  out.push(indent + value(v, indent));
}

/** YAML text of a JSON value (no trailing newline). */
export function toYaml(v: unknown): string {
  const empty = isEmptyCollection(v);
  if (empty) return empty;
  const out: string[] = [];
  emit(v, '', out);
  return out.join('\n');
}

/** Parses the JSON text the API sends for manifests; null/empty → null. */
export function parseState(text: string | null | undefined): unknown {
  if (!text || text === 'null') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
