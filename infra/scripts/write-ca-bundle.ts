// Writes the RDS CA bundle the functions get (lib/ca-bundle.ts) to a file, so the Rust TLS test
// can check that sqlx accepts exactly what is deployed. Usage: tsx write-ca-bundle.ts FILE
import { writeCaBundle } from '../lib/ca-bundle';

const file = process.argv[2];
if (!file) {
  console.error('usage: write-ca-bundle.ts FILE');
  process.exit(2);
}
writeCaBundle(file);
