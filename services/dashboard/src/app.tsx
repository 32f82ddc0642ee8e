import { lazy, Suspense, useEffect, useSyncExternalStore, type ReactNode } from 'react';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { useQueryClient } from '@tanstack/react-query';
import { endSession, getSession, subscribe } from './auth/session';
import { eventStream } from './api/events';
import { DEFAULT_TZ, setLang, setTimeZone, useI18n, type MsgKey } from './i18n';
import { useAccess } from './auth/access';
import { useLiveState } from './live';
import { cx, label, LoadingBlock, ToastProvider, EmptyState } from './ui/components';
import { Icon, type IconName } from './ui/icons';
import { LoginScreen, SignupScreen } from './screens/Auth';
import { OverviewScreen } from './screens/Overview';

const OrdersScreen = lazy(() => import('./screens/Orders'));
const OrderScreen = lazy(() => import('./screens/Order'));
const StockScreen = lazy(() => import('./screens/Stock'));
const ShopsScreen = lazy(() => import('./screens/Shops'));
const InvoicesScreen = lazy(() => import('./screens/Invoices'));
const HoldsScreen = lazy(() => import('./screens/Holds'));
const MappingScreen = lazy(() => import('./screens/Mapping'));
const AllocationScreen = lazy(() => import('./screens/Allocation'));
const ShippingScreen = lazy(() => import('./screens/Shipping'));
const ShipmentScreen = lazy(() => import('./screens/Shipment'));
const CarriersScreen = lazy(() => import('./screens/Carriers'));
const ReturnsScreen = lazy(() => import('./screens/Returns'));
const UsersScreen = lazy(() => import('./screens/Users'));
const AppsScreen = lazy(() => import('./screens/Apps'));
const ConsentScreen = lazy(() => import('./screens/Consent'));
const InviteScreen = lazy(() => import('./screens/Invite'));

function useSession() {
  return useSyncExternalStore(subscribe, getSession);
}

export function App() {
  const session = useSession();
  const qc = useQueryClient();
  const [location, navigate] = useLocation();

  useEffect(() => {
    if (session) {
      eventStream.start();
      return () => eventStream.stop();
    }
    // Logged out: nothing of the previous tenant may stay in memory.
    qc.clear();
    return undefined;
  }, [session, qc]);

  // Accepting an invitation works logged in or not (it starts the new user's session).
  if (location === '/invite') {
    return (
      <ToastProvider>
        <Suspense fallback={<LoadingBlock />}>
          <InviteScreen />
        </Suspense>
      </ToastProvider>
    );
  }

  if (!session) {
    // Keep the whole deep link (path and query) to come back to after logging in.
    const next = location === '/login' || location === '/signup' ? '' : `${location}${window.location.search}`;
    return (
      <ToastProvider>
        <Switch>
          <Route path="/signup">
            <SignupScreen onDone={(to) => navigate(to)} />
          </Route>
          <Route>
            <LoginScreen next={next} onDone={(to) => navigate(to, { replace: true })} />
          </Route>
        </Switch>
      </ToastProvider>
    );
  }

  // The OAuth consent page stands alone (an app sent the seller here; no navigation around it).
  if (location === '/oauth/authorize') {
    return (
      <ToastProvider>
        <Suspense fallback={<LoadingBlock />}>
          <ConsentScreen />
        </Suspense>
      </ToastProvider>
    );
  }

  return (
    <ToastProvider>
      <Shell email={session.email}>
        <Suspense fallback={<LoadingBlock />}>
          <Switch>
            <Route path="/" component={OverviewScreen} />
            <Route path="/orders" component={OrdersScreen} />
            <Route path="/orders/:id">{(p) => <OrderScreen id={p.id} />}</Route>
            <Route path="/stock" component={StockScreen} />
            <Route path="/stock/allocation" component={AllocationScreen} />
            <Route path="/shops" component={ShopsScreen} />
            <Route path="/invoices" component={InvoicesScreen} />
            <Route path="/holds" component={HoldsScreen} />
            <Route path="/mapping" component={MappingScreen} />
            <Route path="/shipping" component={ShippingScreen} />
            <Route path="/shipping/carriers" component={CarriersScreen} />
            <Route path="/shipping/returns" component={ReturnsScreen} />
            <Route path="/shipping/:id">{(p) => <ShipmentScreen id={p.id} />}</Route>
            <Route path="/settings/users" component={UsersScreen} />
            <Route path="/settings/apps" component={AppsScreen} />
            <Route path="/settings">
              <Redirect to="/settings/users" replace />
            </Route>
            <Route path="/login">
              <Redirect to="/" replace />
            </Route>
            <Route path="/signup">
              <Redirect to="/" replace />
            </Route>
            <Route>
              <NotFoundPage />
            </Route>
          </Switch>
        </Suspense>
      </Shell>
    </ToastProvider>
  );
}

type NavItem = { href: string; key: MsgKey; icon: IconName; soon?: boolean };

const NAV: NavItem[] = [
  { href: '/', key: 'nav.overview', icon: 'overview' },
  { href: '/orders', key: 'nav.orders', icon: 'orders' },
  { href: '/stock', key: 'nav.stock', icon: 'stock' },
  { href: '/shops', key: 'nav.shops', icon: 'shops' },
  { href: '/holds', key: 'nav.holds', icon: 'holds' },
  { href: '/mapping', key: 'nav.mapping', icon: 'mapping' },
  { href: '/shipping', key: 'nav.shipping', icon: 'shipping' },
  { href: '/invoices', key: 'nav.invoices', icon: 'invoices' },
];

/** The 设置 Settings group: who works in the account, and which apps may. */
const SETTINGS_NAV: NavItem[] = [
  { href: '/settings/users', key: 'nav.users', icon: 'users' },
  { href: '/settings/apps', key: 'nav.apps', icon: 'apps' },
];

const TIME_ZONES = [
  'Asia/Shanghai',
  'Asia/Hong_Kong',
  'Asia/Taipei',
  'Asia/Tokyo',
  'Asia/Singapore',
  'Europe/London',
  'America/Los_Angeles',
  'UTC',
];

function Shell({ email, children }: { email: string; children: ReactNode }) {
  const { t, lang, tz } = useI18n();
  const [location] = useLocation();
  const active = (href: string) => (href === '/' ? location === '/' : location === href || location.startsWith(`${href}/`));
  useEffect(() => {
    const item = [...NAV, ...SETTINGS_NAV].find((n) => active(n.href));
    document.title = item ? `${t(item.key)} · ${t('app.name')}` : t('app.name');
  });
  const access = useAccess();
  return (
    <div className="shell">
      <aside className="sidebar">
        <Link href="/" className="brand">
          <span className="brand-mark" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          <span className="brand-text">
            <strong>Cairn</strong>
            <small>{t('app.tagline')}</small>
          </span>
        </Link>
        <nav className="nav" aria-label={t('nav.label')}>
          {NAV.filter((n) => !n.soon).map((n) => (
            <Link key={n.href} href={n.href} className={cx('nav-item', active(n.href) && 'is-active')} data-nav={n.href}>
              <Icon name={n.icon} size={18} />
              <span>{t(n.key)}</span>
            </Link>
          ))}
          <div className="nav-group">{t('nav.settings')}</div>
          {SETTINGS_NAV.map((n) => (
            <Link key={n.href} href={n.href} className={cx('nav-item', active(n.href) && 'is-active')} data-nav={n.href}>
              <Icon name={n.icon} size={18} />
              <span>{t(n.key)}</span>
            </Link>
          ))}
          {NAV.some((n) => n.soon) && <div className="nav-group">{t('nav.coming')}</div>}
          {NAV.filter((n) => n.soon).map((n) => (
            <Link key={n.href} href={n.href} className={cx('nav-item', 'is-soon', active(n.href) && 'is-active')} data-nav={n.href}>
              <Icon name={n.icon} size={18} />
              <span>{t(n.key)}</span>
              <span className="soon-tag">{t('nav.soon')}</span>
            </Link>
          ))}
        </nav>
      </aside>
      <div className="main">
        <header className="topbar">
          <LiveIndicator />
          <div className="topbar-right">
            <label className="select-inline" title={t('prefs.timezone')}>
              <Icon name="clock" size={14} />
              <select value={tz} onChange={(e) => setTimeZone(e.target.value)} aria-label={t('prefs.timezone')}>
                {(TIME_ZONES.includes(tz) ? TIME_ZONES : [tz, ...TIME_ZONES]).map((z) => (
                  <option key={z} value={z}>
                    {z === DEFAULT_TZ ? `${z} (${t('prefs.default')})` : z}
                  </option>
                ))}
              </select>
            </label>
            <div className="lang-switch" role="group" aria-label={t('prefs.language')}>
              <button type="button" className={cx(lang === 'zh-CN' && 'is-active')} onClick={() => setLang('zh-CN')} data-lang="zh-CN">
                中文
              </button>
              <button type="button" className={cx(lang === 'en' && 'is-active')} onClick={() => setLang('en')} data-lang="en">
                EN
              </button>
            </div>
            <span className="user" title={email} data-testid="user-email">
              {email}
            </span>
            {access.role && (
              <span className="role-tag" data-testid="user-role" data-role={access.role} title={t('users.role')}>
                {label(t, 'role', access.role)}
              </span>
            )}
            <button type="button" className="btn btn-ghost btn-sm" onClick={() => endSession('logout')} data-testid="logout">
              <Icon name="logout" size={14} />
              {t('auth.logout')}
            </button>
          </div>
        </header>
        <main className="content">{children}</main>
      </div>
    </div>
  );
}

function LiveIndicator() {
  const s = useLiveState();
  const { t } = useI18n();
  const key: Record<typeof s, MsgKey> = {
    off: 'live.off',
    connecting: 'live.connecting',
    live: 'live.live',
    reconnecting: 'live.reconnecting',
    unavailable: 'live.polling',
  };
  const hint: Record<typeof s, MsgKey> = {
    off: 'live.off',
    connecting: 'live.connecting',
    live: 'live.live_hint',
    reconnecting: 'live.reconnecting_hint',
    unavailable: 'live.polling_hint',
  };
  return (
    <div className={cx('live', `live-${s}`)} title={t(hint[s])} data-testid="live-state" data-live={s}>
      <span className="live-dot" aria-hidden="true" />
      {t(key[s])}
    </div>
  );
}

function NotFoundPage() {
  const { t } = useI18n();
  return (
    <div className="page">
      <div className="panel">
        <EmptyState
          icon="search"
          title={t('notfound.page')}
          hint={t('notfound.page_hint')}
          action={
            <Link href="/" className="btn btn-secondary">
              {t('notfound.back_home')}
            </Link>
          }
        />
      </div>
    </div>
  );
}
