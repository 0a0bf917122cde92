// A real OpenID Provider (panva/oidc-provider, OpenID-certified) on 127.0.0.1 for tests/test_oidc_browser.py.
// Usage: node provider.js PORT CLIENT_ID CLIENT_SECRET APP_REDIRECT_URI[,APP_REDIRECT_URI...]
// Two accounts: "ines" (group vru-internal) and "eddie" (group partners). The login form is oidc-provider's
// own development interaction (any password); the test is about what the app does with each identity.
// It makes no outbound calls: clients are static, with no jwks_uri, request_uri or sector_identifier_uri.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUris] = process.argv.slice(2);
if (!redirectUris) {
  console.error('usage: node provider.js PORT CLIENT_ID CLIENT_SECRET APP_REDIRECT_URI[,APP_REDIRECT_URI...]');
  process.exit(2);
}

const ACCOUNTS = {
  ines: { email: 'ines@westyorks.example', email_verified: true, name: 'Ines Internal', groups: ['vru-internal'] },
  eddie: { email: 'eddie@partner.example', email_verified: true, name: 'Eddie External', groups: ['partners'] },
};

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris.split(','),
    post_logout_redirect_uris: redirectUris.split(','),
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['test-provider-cookie-key'] },
});
provider.proxy = false;

provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening at ${issuer}`));
