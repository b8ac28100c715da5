// Who am I: the session's user, issuer and groups (as the server sees them), and logout.

import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox } from '../components/common';
import type { UserInfo } from '../types';

export function UserInfoPage({ user, onLoggedOut }: { user: UserInfo; onLoggedOut: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const logout = async () => {
    try {
      await api.logout();
      onLoggedOut();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <main class="content">
      <header class="page-header">
        <h1>User Info</h1>
        <div class="toolbar">
          <button class="btn" type="button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <ErrorBox error={error} title="Logout failed" />
      <dl class="props">
        <dt>Username</dt>
        <dd data-testid="username">{user.username}</dd>
        <dt>Issuer</dt>
        <dd>{user.iss || '—'}</dd>
        <dt>Groups</dt>
        <dd>
          {user.groups?.length ? (
            <ul class="plain">
              {user.groups.map((g) => (
                <li key={g}>
                  <code>{g}</code>
                </li>
              ))}
            </ul>
          ) : (
            '—'
          )}
        </dd>
      </dl>
    </main>
  );
}
