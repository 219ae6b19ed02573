// The token endpoint's address, apart from oauth.ts so that loading the configuration stays cheap.
export const DEFAULT_TOKEN_URL = "https://platform.claude.com/v1/oauth/token";
