'use strict';
// `require('@sess/express')` returns the middleware factory itself, as
// `require('express-session')` does; the named exports ride on it.
const mod = require('../dist/index.cjs');
module.exports = Object.assign(mod.default, mod);
