export * from './weights';
export * from './model';
export * from './forward';
export * from './network';
