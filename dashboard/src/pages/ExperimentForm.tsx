import { useEffect, useState } from 'preact/hooks';
import { ApiError, errorMessage } from '../api/client';
import type { CreateExperiment, EngineName, Experiment, FieldError, PatchExperiment } from '../api/types';
import { Field } from '../components/Field';
import { ErrorState, Loading } from '../components/States';
import { useToast } from '../components/Toasts';
import { useApp } from '../context';
import { isDay } from '../lib/dates';
import { formatDay } from '../lib/format';
import { href, navigate } from '../lib/router';
import { evenWeights, MAX_VARIANTS, MIN_VARIANTS, toApiVariants, validateVariants, type VariantDraft } from '../lib/variants';

interface FormState {
  name: string;
  description: string;
  status: 'DRAFT' | 'ACTIVE';
  startDate: string;
  endDate: string;
  variants: VariantDraft[];
  controlVariant: string;
  /** How results read this experiment unless a reader picks another engine. */
  engine: EngineName;
}

const MAX_NAME = 200;
const MAX_DESCRIPTION = 2000;

export function emptyForm(): FormState {
  const w = evenWeights(2);
  return {
    name: '',
    description: '',
    status: 'DRAFT',
    startDate: '',
    endDate: '',
    variants: [
      { name: 'control', weight: w[0] },
      { name: 'variant-b', weight: w[1] },
    ],
    controlVariant: 'control',
    engine: 'frequentist',
  };
}

function fromExperiment(e: Experiment): FormState {
  return {
    name: e.name,
    description: e.description ?? '',
    status: 'DRAFT',
    startDate: e.startDate ? formatDay(e.startDate) : '',
    endDate: e.endDate ? formatDay(e.endDate) : '',
    variants: e.variants.map((v) => ({ name: v.name, weight: String(v.weight) })),
    controlVariant: e.controlVariant,
    engine: e.engine?.name ?? 'frequentist',
  };
}

/** Field-level problems found before sending. */
export function validateForm(f: FormState): Record<string, string> {
  const errors: Record<string, string> = {};
  const name = f.name.trim();
  if (!name) errors.name = 'Name is required.';
  else if ([...name].length > MAX_NAME) errors.name = `At most ${MAX_NAME} characters.`;
  if ([...f.description].length > MAX_DESCRIPTION) errors.description = `At most ${MAX_DESCRIPTION} characters.`;
  if (f.startDate && !isDay(f.startDate)) errors.startDate = 'Use YYYY-MM-DD.';
  if (f.endDate && !isDay(f.endDate)) errors.endDate = 'Use YYYY-MM-DD.';
  if (!errors.startDate && !errors.endDate && f.startDate && f.endDate && f.startDate > f.endDate) {
    errors.endDate = 'The end date must be on or after the start date.';
  }
  return errors;
}

export function ExperimentForm({ id }: { id?: string }) {
  const { api } = useApp();
  const toast = useToast();
  const editing = !!id;
  const [original, setOriginal] = useState<Experiment | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [form, setForm] = useState<FormState>(emptyForm);
  const [touched, setTouched] = useState(false);
  const [saving, setSaving] = useState(false);
  const [serverErrors, setServerErrors] = useState<FieldError[]>([]);
  const [serverMessage, setServerMessage] = useState<string | null>(null);

  const load = () => {
    if (!id) return;
    setLoadError(null);
    api.getExperiment(id).then(
      (e) => {
        setOriginal(e);
        setForm(fromExperiment(e));
      },
      (err) => setLoadError(err),
    );
  };
  useEffect(load, [api, id]);

  const variantsLocked = editing && original?.status !== 'DRAFT';
  const fieldErrors = validateForm(form);
  const variantCheck = validateVariants(form.variants);
  const names = form.variants.map((v) => v.name.trim()).filter(Boolean);
  const controlOk = names.includes(form.controlVariant.trim());
  const valid = Object.keys(fieldErrors).length === 0 && (variantsLocked || (variantCheck.valid && controlOk));
  const show = (msg: string | undefined) => (touched ? msg : undefined);

  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setForm((f) => ({ ...f, [key]: value }));
  const setVariant = (i: number, patch: Partial<VariantDraft>) =>
    setForm((f) => {
      const variants = f.variants.map((v, j) => (j === i ? { ...v, ...patch } : v));
      // Renaming the control keeps it the control.
      const control = patch.name !== undefined && f.variants[i].name === f.controlVariant ? patch.name : f.controlVariant;
      return { ...f, variants, controlVariant: control };
    });
  const addVariant = () =>
    setForm((f) => {
      if (f.variants.length >= MAX_VARIANTS) return f;
      const used = new Set(f.variants.map((v) => v.name));
      let n = f.variants.length;
      let name = `variant-${String.fromCharCode(97 + n)}`;
      while (used.has(name)) name = `variant-${++n}`;
      const weights = evenWeights(f.variants.length + 1);
      return { ...f, variants: [...f.variants, { name, weight: '0' }].map((v, i) => ({ ...v, weight: weights[i] })) };
    });
  const removeVariant = (i: number) =>
    setForm((f) => {
      if (f.variants.length <= MIN_VARIANTS) return f;
      const variants = f.variants.filter((_, j) => j !== i);
      const control = variants.some((v) => v.name === f.controlVariant) ? f.controlVariant : variants[0].name;
      return { ...f, variants, controlVariant: control };
    });
  const splitEvenly = () =>
    setForm((f) => {
      const w = evenWeights(f.variants.length);
      return { ...f, variants: f.variants.map((v, i) => ({ ...v, weight: w[i] })) };
    });

  const submit = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    setServerErrors([]);
    setServerMessage(null);
    if (!valid) {
      toast.error('Please fix the highlighted fields.');
      return;
    }
    setSaving(true);
    try {
      let saved: Experiment;
      if (!editing) {
        const body: CreateExperiment = {
          name: form.name.trim(),
          description: form.description.trim() || undefined,
          variants: toApiVariants(form.variants),
          status: form.status,
          controlVariant: form.controlVariant.trim(),
          startDate: form.startDate || undefined,
          endDate: form.endDate || undefined,
          engine: form.engine === 'frequentist' ? undefined : form.engine,
        };
        saved = await api.createExperiment(body);
        toast.success(`Created “${saved.name}”.`);
      } else {
        const before = fromExperiment(original!);
        const patch: PatchExperiment = {};
        if (form.name.trim() !== before.name) patch.name = form.name.trim();
        if (form.description.trim() !== before.description) patch.description = form.description.trim();
        if (form.startDate !== before.startDate) patch.startDate = form.startDate || null;
        if (form.endDate !== before.endDate) patch.endDate = form.endDate || null;
        if (form.engine !== before.engine) patch.engine = form.engine;
        if (!variantsLocked) {
          const now = toApiVariants(form.variants);
          if (JSON.stringify(now) !== JSON.stringify(original!.variants.map((v) => ({ name: v.name, weight: v.weight })))) patch.variants = now;
          if (form.controlVariant.trim() !== before.controlVariant) patch.controlVariant = form.controlVariant.trim();
        }
        if (Object.keys(patch).length === 0) {
          toast.info('Nothing changed.');
          navigate({ name: 'experiment', id: original!.id });
          return;
        }
        saved = await api.updateExperiment(original!.id, patch);
        toast.success(`Saved “${saved.name}”.`);
      }
      navigate({ name: 'experiment', id: saved.id });
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length > 0) {
        setServerErrors(err.fieldErrors);
        setServerMessage('The API refused these values:');
      } else {
        setServerMessage(errorMessage(err));
      }
      toast.error(`Could not save: ${errorMessage(err)}`);
    } finally {
      setSaving(false);
    }
  };

  if (editing && loadError) {
    return (
      <section class="page">
        <ErrorState error={loadError} onRetry={load} title="Could not load the experiment" />
      </section>
    );
  }
  if (editing && !original) return <section class="page"><Loading label="Loading experiment…" /></section>;

  const title = editing ? `Edit “${original!.name}”` : 'New experiment';
  return (
    <section class="page">
      <p class="breadcrumbs">
        <a href={editing ? href({ name: 'experiment', id: id! }) : href({ name: 'experiments' })}>← {editing ? 'Back to the experiment' : 'Experiments'}</a>
      </p>
      <h1>{title}</h1>
      <form class="card form" onSubmit={submit} noValidate data-testid="experiment-form">
        {serverMessage && (
          <div class="banner banner-danger" role="alert">
            {serverMessage}
            {serverErrors.length > 0 && (
              <ul class="compact-list">
                {serverErrors.map((fe) => (
                  <li key={fe.field + fe.message}>
                    <code>{fe.field}</code> {fe.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        <Field id="f-name" label="Name" error={show(fieldErrors.name)}>
          <input id="f-name" value={form.name} maxLength={MAX_NAME} onInput={(e) => set('name', (e.target as HTMLInputElement).value)} required />
        </Field>
        <Field id="f-description" label="Description (optional)" error={show(fieldErrors.description)}>
          <textarea id="f-description" rows={3} value={form.description} onInput={(e) => set('description', (e.target as HTMLTextAreaElement).value)} />
        </Field>
        <div class="form-row">
          {!editing && (
            <Field id="f-status" label="Status">
              <select id="f-status" value={form.status} onChange={(e) => set('status', (e.target as HTMLSelectElement).value as 'DRAFT' | 'ACTIVE')}>
                <option value="DRAFT">Draft</option>
                <option value="ACTIVE">Active (start now)</option>
              </select>
            </Field>
          )}
          <Field id="f-engine" label="Results engine">
            <select id="f-engine" value={form.engine} onChange={(e) => set('engine', (e.target as HTMLSelectElement).value as EngineName)}>
              <option value="frequentist">Frequentist (read once, at the planned size)</option>
              <option value="sequential">Sequential (watch it while it runs)</option>
              <option value="bayesian">Bayesian (chance to win and risk)</option>
            </select>
          </Field>
          <Field id="f-start" label="Start date (optional)" error={show(fieldErrors.startDate)}>
            <input id="f-start" type="date" value={form.startDate} onInput={(e) => set('startDate', (e.target as HTMLInputElement).value)} />
          </Field>
          <Field id="f-end" label="End date (optional)" error={show(fieldErrors.endDate)}>
            <input id="f-end" type="date" value={form.endDate} onInput={(e) => set('endDate', (e.target as HTMLInputElement).value)} />
          </Field>
        </div>

        <fieldset class="variants" disabled={variantsLocked}>
          <legend>Variants</legend>
          {variantsLocked && <p class="muted small">Variants can change only while the experiment is a draft.</p>}
          <div class="variant-grid" role="table" aria-label="Variants">
            <div class="variant-row variant-head" role="row">
              <span role="columnheader">Name</span>
              <span role="columnheader">Weight (%)</span>
              <span role="columnheader">Control</span>
              <span role="columnheader"><span class="sr-only">Remove</span></span>
            </div>
            {form.variants.map((v, i) => {
              const rowErr = touched || v.name !== '' ? variantCheck.rows[i] : {};
              return (
                <div class="variant-row" role="row" key={i} data-testid="variant-row">
                  <span role="cell">
                    <input
                      aria-label={`Variant ${i + 1} name`}
                      value={v.name}
                      onInput={(e) => setVariant(i, { name: (e.target as HTMLInputElement).value })}
                      aria-invalid={!!rowErr.name}
                    />
                    {rowErr.name && <span class="field-error">{rowErr.name}</span>}
                  </span>
                  <span role="cell">
                    <input
                      aria-label={`Variant ${i + 1} weight`}
                      inputMode="decimal"
                      value={v.weight}
                      onInput={(e) => setVariant(i, { weight: (e.target as HTMLInputElement).value })}
                      aria-invalid={!!rowErr.weight}
                    />
                    {rowErr.weight && <span class="field-error">{rowErr.weight}</span>}
                  </span>
                  <span role="cell" class="center">
                    <input
                      type="radio"
                      name="control"
                      aria-label={`${v.name || `Variant ${i + 1}`} is the control`}
                      checked={form.controlVariant === v.name && v.name !== ''}
                      onChange={() => set('controlVariant', v.name)}
                    />
                  </span>
                  <span role="cell">
                    <button type="button" class="icon-button" onClick={() => removeVariant(i)} disabled={form.variants.length <= MIN_VARIANTS} aria-label={`Remove variant ${v.name || i + 1}`}>
                      ×
                    </button>
                  </span>
                </div>
              );
            })}
          </div>
          <div class="variant-footer">
            <span class={`weight-total ${Math.abs(variantCheck.total - 100) > 1e-6 ? 'bad' : 'good'}`} data-testid="weight-total">
              Total {variantCheck.total}%
            </span>
            <button type="button" class="button" onClick={addVariant} disabled={form.variants.length >= MAX_VARIANTS}>
              Add variant
            </button>
            <button type="button" class="button" onClick={splitEvenly}>
              Split evenly
            </button>
          </div>
          {!variantsLocked && (variantCheck.errors.length > 0 || !controlOk) && (
            <ul class="field-error compact-list" role="alert" data-testid="variant-errors">
              {variantCheck.errors.map((m) => (
                <li key={m}>{m}</li>
              ))}
              {!controlOk && <li>Choose which variant is the control.</li>}
            </ul>
          )}
        </fieldset>

        <div class="form-actions">
          <a class="button" href={editing ? href({ name: 'experiment', id: id! }) : href({ name: 'experiments' })}>
            Cancel
          </a>
          <button type="submit" class="button button-primary" disabled={saving}>
            {saving ? 'Saving…' : editing ? 'Save changes' : 'Create experiment'}
          </button>
        </div>
      </form>
    </section>
  );
}
