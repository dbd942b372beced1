#!/usr/bin/env node
// Thin launcher so the bin exists before the first build; the CLI itself is in dist/.
import '../dist/main.js'
