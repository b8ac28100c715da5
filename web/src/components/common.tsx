// Small shared pieces: status badges, permission-aware buttons, links, errors, times.

import type { ComponentChildren, JSX } from 'preact';
import { navigate } from '../router';
import type { Permission } from '../session';
import type { HealthStatusCode, SyncStatusCode } from '../types';

const HEALTH_ICON: Record<string, string> = {
  Healthy: '♥',
  Progressing: '◔',
  Degraded: '✖',
  Suspended: '❚❚',
  Missing: '?',
  Unknown: '?',
};

const SYNC_ICON: Record<string, string> = {
  Synced: '✔',
  OutOfSync: '↻',
  Unknown: '?',
};

export function HealthBadge({ status, message, compact }: { status?: HealthStatusCode | string; message?: string; compact?: boolean }) {
  const s = status || 'Unknown';
  return (
    <span class={`badge health-${s.toLowerCase()}`} title={message ? `${s}: ${message}` : s} data-health={s}>
      <span class={`icon ${s === 'Progressing' ? 'spin' : ''}`} aria-hidden="true">
        {HEALTH_ICON[s] ?? '?'}
      </span>
      {compact ? <span class="sr-only">{s}</span> : <span>{s}</span>}
    </span>
  );
}

export function SyncBadge({ status, compact }: { status?: SyncStatusCode | string; compact?: boolean }) {
  const s = status || 'Unknown';
  return (
    <span class={`badge sync-${s.toLowerCase()}`} title={s} data-sync={s}>
      <span class="icon" aria-hidden="true">
        {SYNC_ICON[s] ?? '?'}
      </span>
      {compact ? <span class="sr-only">{s}</span> : <span>{s}</span>}
    </span>
  );
}

export function OperationBadge({ phase }: { phase?: string }) {
  if (!phase) return null;
  return (
    <span class={`badge op-${phase.toLowerCase()}`} data-operation={phase}>
      <span class={`icon ${phase === 'Running' ? 'spin' : ''}`} aria-hidden="true">
        {phase === 'Running' ? '◔' : phase === 'Succeeded' ? '✔' : phase === 'Terminating' ? '■' : '✖'}
      </span>
      <span>{phase === 'Running' ? 'Syncing' : `Sync ${phase.toLowerCase()}`}</span>
    </span>
  );
}

/**
 * A button that is disabled, with the reason, when the user may not do its action. The
 * reason is the button's accessible description and its tooltip.
 */
export function ActionButton({
  permission,
  onClick,
  children,
  primary,
  danger,
  busy,
  disabledReason,
  id,
  label,
}: {
  permission?: Permission;
  onClick: () => void;
  children: ComponentChildren;
  primary?: boolean;
  danger?: boolean;
  busy?: boolean;
  /** Another reason to disable (e.g. a sync window). */
  disabledReason?: string;
  id?: string;
  label?: string;
}) {
  const reason = (permission && permission.allowed !== true ? permission.reason : '') || disabledReason || '';
  const disabled = !!reason || !!busy;
  const descId = id ? `${id}-why` : undefined;
  return (
    <span class="action">
      <button
        type="button"
        id={id}
        class={`btn ${primary ? 'btn-primary' : ''} ${danger ? 'btn-danger' : ''}`}
        disabled={disabled}
        title={reason || undefined}
        aria-label={label}
        aria-describedby={reason && descId ? descId : undefined}
        onClick={onClick}
      >
        {children}
      </button>
      {reason && descId ? (
        <span id={descId} class="sr-only">
          {reason}
        </span>
      ) : null}
    </span>
  );
}

/** An in-app link (keeps the SPA, works with middle-click and the keyboard). */
export function Link({ href, children, class: cls, ...rest }: JSX.HTMLAttributes<HTMLAnchorElement> & { href: string }) {
  return (
    <a
      {...rest}
      href={href}
      class={cls}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="error-box" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {message}
    </div>
  );
}

export function Spinner({ label }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="icon spin" aria-hidden="true">
        ◔
      </span>{' '}
      {label ?? 'Loading…'}
    </div>
  );
}

/** "3m ago" for a timestamp, with the exact time as the tooltip. */
export function Ago({ time }: { time?: string }) {
  if (!time) return <span>—</span>;
  return <time dateTime={time} title={new Date(time).toLocaleString()}>{ago(time)}</time>;
}

export function ago(time: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(time).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h ago`;
  return `${Math.round(h / 24)}d ago`;
}

export function shortRevision(rev?: string): string {
  if (!rev) return '';
  return /^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 7) : rev;
}

/** A modal side panel, closed with Escape or its close button; focus moves into it. */
export function Panel({
  title,
  onClose,
  children,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}) {
  return (
    <div class="panel-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <section
        class={`panel ${wide ? 'panel-wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-label={title}
        onKeyDown={(e) => e.key === 'Escape' && onClose()}
        ref={(el) => {
          if (el && !el.contains(document.activeElement)) el.querySelector<HTMLElement>('[data-autofocus], button, input, a')?.focus();
        }}
      >
        <header class="panel-header">
          <h2>{title}</h2>
          <button type="button" class="btn btn-icon" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </header>
        <div class="panel-body">{children}</div>
      </section>
    </div>
  );
}

/** A page: breadcrumbs (links but the last), the title with its toolbar, the content. */
export function Page({
  crumbs,
  title,
  toolbar,
  children,
}: {
  crumbs?: [string, string][];
  title: ComponentChildren;
  toolbar?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <main class="content">
      {crumbs?.length ? (
        <nav class="breadcrumbs" aria-label="Breadcrumb">
          {crumbs.map(([href, label], i) => (
            <span key={href}>
              {i > 0 ? <span aria-hidden="true"> / </span> : null}
              {i === crumbs.length - 1 ? <span aria-current="page">{label}</span> : <Link href={href}>{label}</Link>}
            </span>
          ))}
        </nav>
      ) : null}
      <header class="page-header">
        <h1>{title}</h1>
        {toolbar ? <div class="toolbar">{toolbar}</div> : null}
      </header>
      {children}
    </main>
  );
}

/** A table in its scrolling frame, with column headers (an empty one is read as "Actions"). */
export function Table({ columns, children, class: cls }: { columns: string[]; children: ComponentChildren; class?: string }) {
  return (
    <div class="table-wrap">
      <table class={cls}>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th scope="col" key={i}>
                {c || <span class="sr-only">Actions</span>}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A form's submit and cancel buttons. */
export function FormActions({
  submit,
  disabled,
  danger,
  onCancel,
  autofocus,
}: {
  submit: string;
  disabled?: boolean;
  danger?: boolean;
  onCancel?: () => void;
  autofocus?: boolean;
}) {
  return (
    <div class="form-actions">
      <button type="submit" class={`btn ${danger ? 'btn-danger' : 'btn-primary'}`} disabled={disabled} data-autofocus={autofocus || undefined}>
        {submit}
      </button>
      {onCancel ? (
        <button type="button" class="btn" onClick={onCancel}>
          Cancel
        </button>
      ) : null}
    </div>
  );
}
