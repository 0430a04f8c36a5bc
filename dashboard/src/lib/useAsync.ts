import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export type AsyncState<T> =
  | { status: 'loading'; data?: T }
  | { status: 'ok'; data: T }
  | { status: 'error'; error: unknown; data?: T };

/** Runs `load` when `deps` change; keeps the last data while reloading; ignores stale answers. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): [AsyncState<T>, () => void] {
  const [state, setState] = useState<AsyncState<T>>({ status: 'loading' });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ status: 'loading', data: s.data }));
    load().then(
      (data) => mine === seq.current && setState({ status: 'ok', data }),
      (error) => mine === seq.current && setState((s) => ({ status: 'error', error, data: s.data })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [state, reload];
}
