// Who is logged in and what they may do. `can-i` answers are cached for the session: the
// dashboard disables what the server would refuse, and says why.

import { useEffect, useState } from 'preact/hooks';
import { api } from './api';
import type { Settings, UserInfo } from './types';

export interface Session {
  settings: Settings;
  user: UserInfo;
}

const canCache = new Map<string, Promise<boolean>>();

export function clearPermissions(): void {
  canCache.clear();
}

export function can(resource: string, action: string, object: string): Promise<boolean> {
  const key = `${resource} ${action} ${object}`;
  let p = canCache.get(key);
  if (!p) {
    p = api.canI(resource, action, object).catch(() => false);
    canCache.set(key, p);
  }
  return p;
}

export interface Permission {
  /** undefined while the server is asked. */
  allowed: boolean | undefined;
  /** Why not, in words, when not allowed. */
  reason: string;
}

/** Whether the user may do `action` on `resource` `object` (Argo CD's RBAC terms). */
export function usePermission(resource: string, action: string, object: string | null): Permission {
  const [allowed, setAllowed] = useState<boolean | undefined>(undefined);
  useEffect(() => {
    let live = true;
    setAllowed(undefined);
    if (object === null) return;
    can(resource, action, object).then((v) => live && setAllowed(v));
    return () => {
      live = false;
    };
  }, [resource, action, object]);
  return {
    allowed,
    reason:
      allowed === false
        ? `Not permitted: your role may not ${action} ${resource} ${object}`
        : allowed === undefined
          ? 'Checking permission…'
          : '',
  };
}
