// tests/node/zoho-sdk.d.ts - @zohocrm/nodejs-sdk-8.0 ships no types: a
// TypeScript application declares the module, whose exports are then any.
declare module "@zohocrm/nodejs-sdk-8.0";
