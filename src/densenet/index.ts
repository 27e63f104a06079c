export * from './schema';
export * from './analysis';
export * from './notation';
export * from './weights';
export * from './model';
export * from './actions';
export * from './transform';
export * from './check';
