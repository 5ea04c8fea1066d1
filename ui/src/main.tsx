/**
 * The Tollgate dashboard: a single page served by the admin listener, talking
 * to the admin API only. Sign in with an admin token (kept in this browser's
 * storage, sent as a Bearer header, never put in a URL).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getToken, setToken, signOut, tryToken, whenUnauthorized } from './api';
import { href, useRoute } from './router';
import { OverviewPage } from './pages/overview';
import { LivePage } from './pages/live';
import { SearchPage } from './pages/search';
import { EventPage } from './pages/event';
import { AlertsPage, RulesPage } from './pages/alerts';
import { BackendsPage, BlocksPage, DeploymentsPage } from './pages/ops';
import './style.css';

const NAV: [string, string][] = [
  ['overview', 'Overview'],
  ['live', 'Live'],
  ['search', 'Search'],
  ['alerts', 'Alerts'],
  ['rules', 'Rules'],
  ['backends', 'Backends'],
  ['blocks', 'Blocks'],
  ['deployments', 'Deployments'],
];

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <h1>Tollgate</h1>
      <form
        data-testid="signin"
        onSubmit={async (ev) => {
          ev.preventDefault();
          const f = new FormData(ev.currentTarget);
          const token = String(f.get('token') ?? '').trim();
          if (!token) return;
          setBusy(true);
          setError(null);
          try {
            if (await tryToken(token)) {
              setToken(token, f.get('remember') === 'on');
              onSignedIn();
            } else setError('This token was refused. Use a token from admin.tokens, or the generated one in admin.token_file (./data/admin.token by default).');
          } catch (err) {
            setError(`The admin API cannot be reached: ${(err as Error).message}`);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          Admin token
          <input name="token" type="password" autocomplete="current-password" autofocus data-testid="signin-token" />
        </label>
        <label class="check">
          <input name="remember" type="checkbox" /> remember on this browser
        </label>
        <button type="submit" disabled={busy} data-testid="signin-submit">
          Sign in
        </button>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <p class="muted">The token is sent in a header to this admin API only, and never appears in a URL.</p>
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(getToken() !== null);
  const route = useRoute();
  useEffect(() => whenUnauthorized(() => (signOut(), setSignedIn(false))), []);
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  let page;
  switch (route.page) {
    case 'live':
      page = <LivePage route={route} />;
      break;
    case 'search':
      page = <SearchPage route={route} />;
      break;
    case 'event':
      page = <EventPage id={route.arg ?? ''} />;
      break;
    case 'alerts':
      page = <AlertsPage route={route} />;
      break;
    case 'rules':
      page = <RulesPage />;
      break;
    case 'backends':
      page = <BackendsPage />;
      break;
    case 'blocks':
      page = <BlocksPage />;
      break;
    case 'deployments':
      page = <DeploymentsPage id={route.arg} />;
      break;
    default:
      page = <OverviewPage route={route} />;
  }
  return (
    <>
      <nav class="top">
        <a class="brand" href={href('overview')}>
          Tollgate
        </a>
        {NAV.map(([id, label]) => (
          <a class={route.page === id || (id === 'search' && route.page === 'event') ? 'on' : ''} href={href(id)} data-testid={`nav-${id}`}>
            {label}
          </a>
        ))}
        <span class="spacer" />
        <button
          type="button"
          class="link"
          data-testid="signout"
          onClick={() => {
            signOut();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </nav>
      <main data-page={route.page}>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
