// bindings/node/index.d.ts - the types of index.mjs and of the Zoho SDK
// adapter it re-exports (sdk.mjs). README.md, "Using it from the Zoho
// Node.js SDK", says what each call does.

/** The SDK's ten token fields, in its column order. */
export type TokenField =
    | "id" | "user_name" | "client_id" | "client_secret" | "refresh_token"
    | "access_token" | "grant_token" | "expiry_time" | "redirect_url" | "api_domain";

/**
 * A token as the Store takes it: any of the ten fields, each a string (a
 * number is read as its text), null or undefined for absent. Any other key
 * is refused with a TypeError naming it.
 */
export type TokenInput = { [F in TokenField]?: string | number | null };

/** A token as the Store answers it: all ten fields, null when absent. */
export type Token = { [F in TokenField]: string | null };

/** The library's log levels, most severe first. */
export type LogLevel = "error" | "warning" | "info" | "debug";

/** Hears log lines; a message never holds a secret. */
export type LogHandler = (level: LogLevel, message: string) => void;

/**
 * OAuth settings as a config file's "oauth" section holds them
 * ({ "accounts_url.EU": "https://...", retries: 2 }); OAUTH_SETTINGS lists
 * the names.
 */
export type OAuthSettings = { [name: string]: string | number };

/**
 * The error a call rejects with (or an argument check throws): code is the
 * library's code name ("TS_ERR_INVALID", "TS_ERR_CONFIG", "TS_NOT_FOUND",
 * "TS_ERR_READ_ONLY", "TS_ERR_BACKOFF", ...), the message the library's.
 */
export interface TokenstoreError extends Error {
    code: string;
}

export interface OpenOptions {
    /** Never create a store: one that does not exist rejects TS_ERR_NO_STORE. */
    mustExist?: boolean;
    /** Never change the store; implies mustExist. */
    readOnly?: boolean;
    /** OAuth settings over the config file's "oauth" section. */
    oauth?: OAuthSettings;
    /** Hears the store's log lines; without it warnings become process warnings. */
    onLog?: LogHandler;
    /** What onLog hears: "info" by default. */
    logLevel?: LogLevel;
}

export interface AccessTokenOptions {
    /** The refresh_ahead_ms of this call; by default the setting in force. */
    refreshAheadMs?: number;
    /** The accounts server for a token no setting and no data center names one for. */
    accountsUrl?: string;
}

/** An open store: what open() resolves to. Every call returns a Promise. */
export declare class Store {
    /** Only open() makes a Store. */
    private constructor();
    /** Where the configuration came from: a config file's path, "URI" or "default". */
    readonly origin: string;
    /** The stored token matching the SDK's rules, or null. */
    find(token: TokenInput): Promise<Token | null>;
    /** The token stored with this id, or null. */
    findById(id: string): Promise<Token | null>;
    /** Saves the token; resolves to it as stored, its id set. */
    save(token: TokenInput): Promise<Token>;
    /** Deletes the token with this id; a missing id rejects TS_NOT_FOUND. */
    delete(id: string): Promise<void>;
    /** Every stored token. */
    tokens(): Promise<Token[]>;
    /** Deletes every token. */
    clear(): Promise<void>;
    /** Saves the tokens in one call; resolves to them as stored. */
    saveMany(tokens: readonly TokenInput[]): Promise<Token[]>;
    /**
     * The stored token with a valid access token, refreshed when it is
     * missing or expires within refreshAheadMs (ts_oauth_get_access_token);
     * a refresh held back rejects with code "TS_ERR_BACKOFF".
     */
    accessToken(token: TokenInput, options?: AccessTokenOptions): Promise<Token>;
    /** The OAuth setting in force (ts_oauth_get), as text. */
    oauthSetting(key: string): string;
    /** Closes the store's handles. */
    close(): Promise<void>;
}

/** The library's version, e.g. "0.1.0". */
export declare const version: string;

/** The SDK's ten field names, in its column order. */
export declare const FIELDS: readonly TokenField[];

/** One OAuth setting the library takes (ts_oauth_settings). */
export interface OAuthSettingInfo {
    /** A name ending in ".*" is a family ("accounts_url.EU"). */
    readonly name: string;
    readonly default: string;
    /** null for a setting that is not a number. */
    readonly min: number | null;
    readonly max: number | null;
    readonly summary: string;
}

/** Every OAuth setting the library takes, as it lists them. */
export declare const OAUTH_SETTINGS: ReadonlyArray<OAuthSettingInfo>;

/**
 * Checks OAuth settings as open() would take them, without opening
 * anything: throws a TokenstoreError with code "TS_ERR_CONFIG" for a bad
 * name or value.
 */
export declare function checkOAuth(settings: OAuthSettings): void;

/**
 * Opens a store: spec is a URI ("sqlite:/path/tokens.db",
 * "redis://host:6379/0"), the path of a JSON config file, or null for the
 * default configuration.
 */
export declare function open(spec?: string | null, options?: OpenOptions): Promise<Store>;

/* ---------------------------------------------------------- the SDK adapter */

/**
 * What sdkTokenStore needs of the Zoho SDK module (the namespace of
 * `import * as SDK from "@zohocrm/nodejs-sdk-8.0"`, which ships no types of
 * its own): its TokenStore base class, OAuthToken, UserSignature and
 * SDKException.
 */
export interface ZohoSDK {
    TokenStore: { TokenStore: abstract new (...args: any[]) => object };
    OAuthToken: new (...args: any[]) => object;
    UserSignature: new (name: string) => object;
    SDKException: new (...args: any[]) => Error;
}

/** The SDK's OAuthToken (the adapter reads and sets it through its getters and setters). */
export type ZohoOAuthToken = object;

export interface SDKTokenStoreOptions {
    /**
     * 0 turns refresh ahead off; a number of milliseconds sets the library's
     * refresh_ahead_ms; by default the one in force. Asking for it on a
     * readOnly store throws.
     */
    refreshAheadMs?: number;
    /** OAuth settings, as open() takes them. */
    oauth?: OAuthSettings;
    /** Hears the store's log lines and the adapter's own. */
    onLog?: LogHandler;
    /** What onLog hears: "info" by default. */
    logLevel?: LogLevel;
    mustExist?: boolean;
    readOnly?: boolean;
}

/**
 * A store for the SDK: an instance of the class sdkTokenStore(SDK) returns,
 * which extends the SDK's own TokenStore. The store opens on first use.
 */
export interface SDKTokenStore {
    /** Fills the token's empty fields from the stored one; null on a miss. */
    findToken(token: ZohoOAuthToken): Promise<ZohoOAuthToken | null>;
    /** A new OAuthToken; a missing id throws the SDK's SDKException. */
    findTokenById(id: string): Promise<ZohoOAuthToken>;
    /** Saves the token and sets the stored id on it. */
    saveToken(token: ZohoOAuthToken): Promise<void>;
    deleteToken(id: string): Promise<void>;
    getTokens(): Promise<ZohoOAuthToken[]>;
    deleteTokens(): Promise<void>;
    /** Closes the store; later calls reopen it. */
    close(): Promise<void>;
}

/** The class sdkTokenStore(SDK) returns. */
export interface SDKTokenStoreClass {
    /**
     * spec as open() takes it (null: the default store); the options are
     * checked at once: a bad one throws a TokenstoreError.
     */
    new (spec?: string | null, options?: SDKTokenStoreOptions): SDKTokenStore;
}

/**
 * The SDKTokenStore class for the given SDK module; the same module always
 * gets the same class.
 */
export declare function sdkTokenStore(SDK: ZohoSDK): SDKTokenStoreClass;
