import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiClient } from './api/client';
import type { Theme } from './lib/theme';

export interface AppContextValue {
  api: ApiClient;
  apiBaseUrl: string;
  theme: Theme;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error('useApp outside the connected app');
  return ctx;
}
