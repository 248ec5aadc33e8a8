/**
 * An accessible modal dialog: `role="dialog"` + `aria-modal`, labelled by its heading, the rest
 * of the page made `inert` while it is open, Tab and Shift+Tab kept inside, Escape closes,
 * and focus goes back to where it was when it closes.
 */

import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

import { toApiError, type ApiError } from '../api/problem';
import { FormErrorSummary } from './Status';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

function modalRoot(): HTMLElement {
  let root = document.getElementById('modal-root');
  if (!root) {
    root = document.createElement('div');
    root.id = 'modal-root';
    document.body.appendChild(root);
  }
  return root;
}

export function focusableWithin(container: HTMLElement): HTMLElement[] {
  return Array.from(container.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => !el.closest('[inert]'));
}

interface ModalProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** CSS selector of the element to focus first (default: the first focusable one). */
  initialFocus?: string;
  /** Closing with Escape or the backdrop is refused while busy. */
  busy?: boolean;
  wide?: boolean;
}

export function Modal({ title, onClose, children, initialFocus, busy = false, wide = false }: ModalProps) {
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  const busyRef = useRef(busy);
  busyRef.current = busy;
  // Read during the first render: by the time effects run, an autoFocus inside has moved focus.
  const [previous] = useState(() => (document.activeElement instanceof HTMLElement ? document.activeElement : null));

  useEffect(() => {
    const app = document.getElementById('root');
    app?.setAttribute('inert', '');
    app?.setAttribute('aria-hidden', 'true');
    const dialog = ref.current;
    if (dialog) {
      const preferred = initialFocus ? dialog.querySelector<HTMLElement>(initialFocus) : null;
      (preferred ?? focusableWithin(dialog)[0] ?? dialog).focus();
    }
    const onKey = (event: KeyboardEvent) => {
      const el = ref.current;
      if (!el) return;
      if (event.key === 'Escape') {
        event.preventDefault();
        if (!busyRef.current) closeRef.current();
        return;
      }
      if (event.key !== 'Tab') return;
      const items = focusableWithin(el);
      if (items.length === 0) {
        event.preventDefault();
        el.focus();
        return;
      }
      const first = items[0] as HTMLElement;
      const last = items[items.length - 1] as HTMLElement;
      const active = document.activeElement;
      if (event.shiftKey && (active === first || !el.contains(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (active === last || !el.contains(active))) {
        event.preventDefault();
        first.focus();
      }
    };
    document.addEventListener('keydown', onKey, true);
    return () => {
      document.removeEventListener('keydown', onKey, true);
      app?.removeAttribute('inert');
      app?.removeAttribute('aria-hidden');
      if (previous && document.contains(previous)) previous.focus();
    };
    // Focus is set once, when the dialog opens.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return createPortal(
    <div
      className="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget && !busy) onClose();
      }}
    >
      <div className={`modal${wide ? ' modal-wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={titleId} ref={ref} tabIndex={-1}>
        <h2 id={titleId}>{title}</h2>
        {children}
      </div>
    </div>,
    modalRoot(),
  );
}

/** The footer of a form in a modal: "Cancel" and the form's submit button, both disabled while busy. */
export function ModalActions({ busy, onCancel, label, busyLabel }: { busy: boolean; onCancel: () => void; label: string; busyLabel: string }) {
  return (
    <div className="modal-actions">
      <button type="button" onClick={onCancel} disabled={busy}>
        Cancel
      </button>
      <button type="submit" className="primary" disabled={busy} aria-busy={busy}>
        {busy ? busyLabel : label}
      </button>
    </div>
  );
}

interface ConfirmProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** Destructive actions focus "Cancel" first. */
  danger?: boolean;
  onConfirm: () => Promise<void> | void;
  onClose: () => void;
}

/** "Are you sure?" with the action's outcome: errors stay in the dialog, success closes it. */
export function ConfirmDialog({ title, children, confirmLabel, danger = false, onConfirm, onClose }: ConfirmProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(toApiError(e));
      setBusy(false);
    }
  };
  return (
    <Modal title={title} onClose={onClose} busy={busy} initialFocus={danger ? '[data-cancel]' : '[data-confirm]'}>
      <FormErrorSummary error={error} fields={[]} />
      <div className="modal-body">{children}</div>
      <div className="modal-actions">
        <button type="button" data-cancel onClick={onClose} disabled={busy}>
          Cancel
        </button>
        <button type="button" data-confirm className={danger ? 'danger' : 'primary'} onClick={() => void confirm()} disabled={busy} aria-busy={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </Modal>
  );
}
