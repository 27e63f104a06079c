/** An architecture breaks a rule; `layer` is the index in `arch.layers` (or -1 for the whole network). */
export class ArchError extends Error {
  constructor(
    readonly layer: number,
    readonly rule: string,
    detail: string,
  ) {
    super(layer >= 0 ? `layer ${layer}: ${detail} (rule: ${rule})` : `${detail} (rule: ${rule})`);
    this.name = 'ArchError';
  }
}
