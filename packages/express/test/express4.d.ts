// The `express4` alias (npm:express@4) has no types of its own; the tests use it through Express 5's.
declare module 'express4' {
  import express from 'express';
  export default express;
}

// The oldest Express 4 the peer range claims (npm:express@4.16.0), typed the same way.
declare module 'express4-16' {
  import express from 'express';
  export default express;
}
