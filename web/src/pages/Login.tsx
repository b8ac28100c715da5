// The login page: the SSO button (its text from argocd-cm's `oidc.config` name) and the
// local account form. The session is an HttpOnly cookie the auth-gateway sets.

import { useState } from 'preact/hooks';
import { api } from '../api';
import type { Settings } from '../types';

/** Only same-origin paths are followed after login (the gateway checks this too). */
export function safeReturnUrl(url: string | null | undefined): string {
  if (!url || !url.startsWith('/') || url.startsWith('//') || url.startsWith('/\\')) return '/applications';
  if (url.startsWith('/login')) return '/applications';
  return url;
}

export function LoginPage({
  settings,
  returnUrl,
  error,
  onLoggedIn,
}: {
  settings: Settings;
  returnUrl: string;
  error: string | null;
  onLoggedIn: (to: string) => void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(error);
  const back = safeReturnUrl(returnUrl);
  const sso = settings.oidcConfig?.name;

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setFailure(null);
    try {
      await api.login(username, password);
      onLoggedIn(back);
    } catch (err) {
      setFailure(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <main class="login-page">
      <div class="login-card">
        <div class="login-brand">
          <span class="brand-mark large" aria-hidden="true" />
          <h1>Capstan</h1>
          <p class="muted">Let's get stuff deployed!</p>
        </div>
        {failure ? (
          <div class="error-box" role="alert" id="login-error">
            {failure}
          </div>
        ) : null}
        {!settings.userLoginsDisabled ? (
          <form onSubmit={submit} aria-label="Log in with a local account">
            <label>
              Username
              <input
                name="username"
                autocomplete="username"
                required
                value={username}
                onInput={(e) => setUsername(e.currentTarget.value)}
              />
            </label>
            <label>
              Password
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
            <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
          </form>
        ) : null}
        {sso ? (
          <>
            {!settings.userLoginsDisabled ? <div class="login-or">or</div> : null}
            <a class="btn btn-block btn-sso" href={`/auth/login?return_url=${encodeURIComponent(back)}`}>
              Log in via {sso}
            </a>
          </>
        ) : null}
      </div>
    </main>
  );
}
