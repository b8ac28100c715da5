// Shared hooks: a reconnecting watch stream and async loading.

import { useEffect, useState } from 'preact/hooks';
import { readStream } from './api';

/**
 * Follows a newline-delimited JSON watch for as long as the component lives (and `path` is
 * unchanged), reconnecting with backoff when the server or a proxy drops it.
 */
export function useStream<T>(path: string | null, onItem: (item: T) => void): void {
  useEffect(() => {
    if (!path) return;
    const ctl = new AbortController();
    (async () => {
      for (let attempt = 0; !ctl.signal.aborted; attempt++) {
        const started = Date.now();
        try {
          await readStream<T>(path, onItem, ctl.signal);
        } catch {
          /* reconnect */
        }
        if (ctl.signal.aborted) return;
        if (Date.now() - started > 30_000) attempt = 0;
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5))));
      }
    })();
    return () => ctl.abort();
  }, [path]);
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; keeps the last data while reloading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(null);
      })
      .catch((e) => live && setError(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { data, error, loading, reload: () => setN((x) => x + 1) };
}
