// bindings/node/index.mjs - the package's entry point: libtokenstore's
// Store and open() (store.mjs), and the Zoho Node.js SDK's TokenStore
// built on them (sdk.mjs).
export * from "./store.mjs";
export { sdkTokenStore } from "./sdk.mjs";
