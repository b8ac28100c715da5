// Capstan's web dashboard: the shell (navigation, session, routes).

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, setUnauthenticatedHandler } from './api';
import { ErrorBox, Link, Spinner } from './components/common';
import { AppDetailPage } from './pages/AppDetail';
import { AppsListPage } from './pages/AppsList';
import { LoginPage } from './pages/Login';
import { ClustersPage, ProjectPage, ProjectsPage, ReposPage, SettingsPage } from './pages/Settings';
import { UserInfoPage } from './pages/UserInfo';
import { match, navigate, useLocation } from './router';
import { clearPermissions, type Session } from './session';
import './styles.css';

function loginUrl(): string {
  const back = location.pathname + location.search;
  return back.startsWith('/login') ? '/login' : `/login?return_url=${encodeURIComponent(back)}`;
}

function Nav({ session, path }: { session: Session; path: string }) {
  const item = (href: string, label: string, icon: string) => (
    <li>
      <Link href={href} class={path.startsWith(href) ? 'active' : ''} aria-current={path.startsWith(href) ? 'page' : undefined}>
        <span class="nav-icon" aria-hidden="true">
          {icon}
        </span>
        <span class="nav-label">{label}</span>
      </Link>
    </li>
  );
  return (
    <nav class="sidebar" aria-label="Main">
      <Link href="/applications" class="brand" aria-label="Capstan home">
        <span class="brand-mark" aria-hidden="true" />
        <span class="nav-label">Capstan</span>
      </Link>
      <ul>
        {item('/applications', 'Applications', '▦')}
        {item('/settings', 'Settings', '⚙')}
        {item('/user-info', 'User Info', '☺')}
      </ul>
      <div class="nav-user nav-label" title={session.user.username}>
        {session.user.username}
      </div>
    </nav>
  );
}

function App() {
  const loc = useLocation();
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      clearPermissions();
      setSession(null);
      if (!location.pathname.startsWith('/login')) navigate(loginUrl(), true);
    });
  }, []);

  useEffect(() => {
    let live = true;
    Promise.all([api.settings(), api.userInfo()])
      .then(([settings, user]) => {
        if (!live) return;
        setSession({ settings, user });
        setError(null);
        if (!user.loggedIn && !location.pathname.startsWith('/login')) navigate(loginUrl(), true);
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [generation]);

  if (error) {
    return (
      <main class="center-page">
        <ErrorBox error={error} title="The API server did not answer" />
        <button class="btn" onClick={() => setGeneration((g) => g + 1)}>
          Retry
        </button>
      </main>
    );
  }
  if (!session) return <Spinner />;

  if (loc.path.startsWith('/login') || !session.user.loggedIn) {
    return (
      <LoginPage
        settings={session.settings}
        returnUrl={loc.params.get('return_url') ?? '/applications'}
        error={loc.params.get('error')}
        onLoggedIn={(to) => {
          clearPermissions();
          setSession(null);
          navigate(to, true);
          setGeneration((g) => g + 1);
        }}
      />
    );
  }

  let page;
  let m: Record<string, string> | null;
  if (loc.path === '/' || loc.path === '/applications') {
    page = <AppsListPage params={loc.params} />;
  } else if ((m = match('/applications/:ns/:name', loc.path))) {
    page = <AppDetailPage key={m.name} name={m.name} namespace={m.ns} params={loc.params} />;
  } else if ((m = match('/applications/:name', loc.path))) {
    page = <AppDetailPage key={m.name} name={m.name} params={loc.params} />;
  } else if (loc.path === '/settings') {
    page = <SettingsPage />;
  } else if (loc.path === '/settings/projects') {
    page = <ProjectsPage />;
  } else if ((m = match('/settings/projects/:name', loc.path))) {
    page = <ProjectPage key={m.name} name={m.name} />;
  } else if (loc.path === '/settings/repos') {
    page = <ReposPage />;
  } else if (loc.path === '/settings/clusters') {
    page = <ClustersPage />;
  } else if (loc.path === '/user-info') {
    page = (
      <UserInfoPage
        user={session.user}
        onLoggedOut={() => {
          clearPermissions();
          setSession(null);
          navigate('/login', true);
          setGeneration((g) => g + 1);
        }}
      />
    );
  } else {
    page = (
      <main class="content">
        <h1>Not found</h1>
        <p>
          Nothing lives at <code>{loc.path}</code>. <Link href="/applications">Go to the applications</Link>.
        </p>
      </main>
    );
  }
  return (
    <div class="layout">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Nav session={session} path={loc.path} />
      <div class="main" id="main">
        {page}
      </div>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
