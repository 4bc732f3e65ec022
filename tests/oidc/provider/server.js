// A real OpenID Connect provider for tandem's tests: node-oidc-provider with its development
// sign-in pages (any user name signs in). Usage:
//   node server.js PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Prints "ready <issuer>" once it listens on 127.0.0.1.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  cookies: { keys: ['tandem-test-only-cookie-key'] },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, preferred_username: sub, name: `Test ${sub}`, email: `${sub}@example.test` };
      },
    };
  },
});
provider.proxy = false;

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
