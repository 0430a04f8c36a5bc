// Hash routing (#/experiments/<id>) so any static host serves every page.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'overview' }
  /** `path`: the drill-down keys chosen so far (channel, then source / medium). */
  | { name: 'campaigns'; path: string[] }
  | { name: 'experiments' }
  | { name: 'new-experiment' }
  | { name: 'experiment'; id: string }
  | { name: 'edit-experiment'; id: string }
  | { name: 'keys' }
  | { name: 'connect' }
  | { name: 'not-found'; path: string };

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/\?.*$/, '') || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'overview')) return { name: 'overview' };
  if (parts[0] === 'connect' && parts.length === 1) return { name: 'connect' };
  if (parts[0] === 'keys' && parts.length === 1) return { name: 'keys' };
  if (parts[0] === 'campaigns' && parts.length <= 3) return { name: 'campaigns', path: parts.slice(1) };
  if (parts[0] === 'experiments') {
    if (parts.length === 1) return { name: 'experiments' };
    if (parts.length === 2 && parts[1] === 'new') return { name: 'new-experiment' };
    if (parts.length === 2) return { name: 'experiment', id: parts[1] };
    if (parts.length === 3 && parts[2] === 'edit') return { name: 'edit-experiment', id: parts[1] };
  }
  return { name: 'not-found', path };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'overview':
      return '#/';
    case 'connect':
      return '#/connect';
    case 'campaigns':
      return ['#/campaigns', ...route.path.map(encodeURIComponent)].join('/');
    case 'experiments':
      return '#/experiments';
    case 'new-experiment':
      return '#/experiments/new';
    case 'experiment':
      return `#/experiments/${encodeURIComponent(route.id)}`;
    case 'edit-experiment':
      return `#/experiments/${encodeURIComponent(route.id)}/edit`;
    case 'keys':
      return '#/keys';
    case 'not-found':
      return '#' + route.path;
  }
}

export function navigate(route: Route) {
  window.location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
