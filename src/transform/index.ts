export * from './wider';
export * from './deeper';
export * from './apply';
export * from './verify';
export * from './random';
export * from './check';
