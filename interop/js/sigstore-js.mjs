// Drives real sigstore-js 5.x against a sigstore-lite stack. Run with Node 22:
//   node sigstore-js.mjs sign   FILE OUT --fulcio URL --rekor URL --token JWT
//   node sigstore-js.mjs attest STATEMENT OUT --fulcio URL --rekor URL --token JWT
//   node sigstore-js.mjs sign-config   FILE OUT --signing-config FILE --token JWT
//   node sigstore-js.mjs attest-config STATEMENT OUT --signing-config FILE --token JWT
//   node sigstore-js.mjs verify FILE BUNDLE --trusted-root FILE --identity SAN --issuer URL
//   node sigstore-js.mjs verify-tuf FILE BUNDLE --tuf-mirror URL --tuf-root ROOT.json --tuf-cache DIR
//                        --identity EMAIL --issuer URL
// `sign`/`attest` use sigstore's high-level API (Rekor v1 at the given URL); the `-config` forms
// build the bundle as @sigstore/sign does from a signing_config.json (the Rekor API version and
// TSA it names: Rekor v2 with a TSA for sigstore-lite's default config). `verify-tuf` is the
// high-level `verify`, its trusted root fetched through TUF (tufMirrorURL, tufRootPath).
// Exit 0 on success; on failure one line on stderr and exit 1.
import { readFileSync, writeFileSync } from 'node:fs';
import { sign, attest, verify } from 'sigstore';
import { bundleBuilderFromSigningConfig } from '@sigstore/sign';
import { Verifier, toTrustMaterial, toSignedEntity } from '@sigstore/verify';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { SigningConfig, TrustedRoot } from '@sigstore/protobuf-specs';

const [cmd, file, out, ...rest] = process.argv.slice(2);
const opt = (name) => {
  const i = rest.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= rest.length) throw new Error(`missing --${name}`);
  return rest[i + 1];
};

async function main() {
  if (cmd === 'sign' || cmd === 'attest') {
    const opts = { fulcioURL: opt('fulcio'), rekorURL: opt('rekor'), identityToken: opt('token'), tlogUpload: true };
    const data = readFileSync(file);
    const bundle = cmd === 'sign' ? await sign(data, opts) : await attest(data, 'application/vnd.in-toto+json', opts);
    writeFileSync(out, JSON.stringify(bundle));
  } else if (cmd === 'sign-config' || cmd === 'attest-config') {
    const token = opt('token');
    const builder = bundleBuilderFromSigningConfig({
      signingConfig: SigningConfig.fromJSON(JSON.parse(readFileSync(opt('signing-config'), 'utf8'))),
      identityProvider: { getToken: () => Promise.resolve(token) },
      bundleType: cmd === 'sign-config' ? 'messageSignature' : 'dsseEnvelope',
      fetchOptions: { timeout: 20000, retry: { retries: 0 } },
    });
    const data = readFileSync(file);
    const bundle = await builder.create(
      cmd === 'sign-config' ? { data } : { data, type: 'application/vnd.in-toto+json' },
    );
    writeFileSync(out, JSON.stringify(bundleToJSON(bundle)));
  } else if (cmd === 'verify') {
    const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(opt('trusted-root'), 'utf8')));
    const verifier = new Verifier(toTrustMaterial(root), { ctlogThreshold: 1, tlogThreshold: 1 });
    const bundle = bundleFromJSON(JSON.parse(readFileSync(out, 'utf8')));
    const data = bundle.content.$case === 'dsseEnvelope' ? undefined : readFileSync(file);
    verifier.verify(toSignedEntity(bundle, data), {
      subjectAlternativeName: opt('identity'),
      extensions: { issuer: opt('issuer') },
    });
  } else if (cmd === 'verify-tuf') {
    const bundle = JSON.parse(readFileSync(out, 'utf8'));
    await verify(bundle, readFileSync(file), {
      tufMirrorURL: opt('tuf-mirror'),
      tufRootPath: opt('tuf-root'),
      tufCachePath: opt('tuf-cache'),
      certificateIdentityEmail: opt('identity'),
      certificateIssuer: opt('issuer'),
    });
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`sigstore-js: ${e && e.message ? e.message : e}${e && e.cause ? ` (${e.cause.message || e.cause})` : ''}`);
    process.exit(1);
  },
);
