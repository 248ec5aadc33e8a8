/**
 * Labelled inputs whose error messages (from the form's own checks or the API's
 * problem+json `errors`) sit under the field and are tied to it with `aria-describedby`.
 */

import type { InputHTMLAttributes, ReactNode, SelectHTMLAttributes, TextareaHTMLAttributes } from 'react';

interface Common {
  id: string;
  label: ReactNode;
  errors?: string[];
  hint?: ReactNode;
}

function describedBy(id: string, errors?: string[], hint?: ReactNode): string | undefined {
  const ids = [hint ? `${id}-hint` : '', errors?.length ? `${id}-error` : ''].filter(Boolean);
  return ids.length ? ids.join(' ') : undefined;
}

function Messages({ id, errors, hint }: { id: string; errors?: string[] | undefined; hint?: ReactNode }) {
  return (
    <>
      {hint ? (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      {errors?.length ? (
        <span className="field-error" id={`${id}-error`}>
          {errors.join('; ')}
        </span>
      ) : null}
    </>
  );
}

/** The id and ARIA state every control carries: invalid when it has errors, described by its hint and errors. */
function controlProps(id: string, errors?: string[], hint?: ReactNode) {
  return { id, 'aria-invalid': Boolean(errors?.length) || undefined, 'aria-describedby': describedBy(id, errors, hint) };
}

/** The wrapper of a labelled control: label above, the control, then its hint and errors. */
function FieldShell({ id, label, errors, hint, className, children }: Common & { className?: string | undefined; children: ReactNode }) {
  const invalid = Boolean(errors?.length);
  return (
    <div className={`field${invalid ? ' invalid' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      <Messages id={id} errors={errors} hint={hint} />
    </div>
  );
}

export function TextField({ id, label, errors, hint, className, ...input }: Common & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <FieldShell id={id} label={label} errors={errors} hint={hint} className={className}>
      <input {...controlProps(id, errors, hint)} {...input} />
    </FieldShell>
  );
}

export function TextArea({ id, label, errors, hint, className, ...input }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return (
    <FieldShell id={id} label={label} errors={errors} hint={hint} className={className}>
      <textarea {...controlProps(id, errors, hint)} {...input} />
    </FieldShell>
  );
}

export function SelectField({
  id,
  label,
  errors,
  hint,
  className,
  children,
  ...select
}: Common & SelectHTMLAttributes<HTMLSelectElement> & { children: ReactNode }) {
  return (
    <FieldShell id={id} label={label} errors={errors} hint={hint} className={className}>
      <select {...controlProps(id, errors, hint)} {...select}>
        {children}
      </select>
    </FieldShell>
  );
}

export function CheckboxField({ id, label, errors, hint, className, ...input }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const invalid = Boolean(errors?.length);
  return (
    <div className={`field field-check${invalid ? ' invalid' : ''}${className ? ` ${className}` : ''}`}>
      <input type="checkbox" {...controlProps(id, errors, hint)} {...input} />
      <label htmlFor={id}>{label}</label>
      <Messages id={id} errors={errors} hint={hint} />
    </div>
  );
}
