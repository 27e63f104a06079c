export * from './weights';
export * from './model';
export * from './forward';
