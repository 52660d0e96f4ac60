// tests/node/sdk-flight-common.mjs - what tests/node/sdk-flight.mjs and its
// worker processes share: the grant token and the data centers' tokens.
export const GRANT = "1000.grantflight0123456789abcdef.0123456789abcdef";

// [user, data center, api_domain]: one token per data center, each to be
// refreshed at the fake server's prefix for it.
export const DC_USERS = [
    ["us@example.test", "US", "https://www.zohoapis.com"],
    ["eu@example.test", "EU", "https://www.zohoapis.eu"],
    ["in@example.test", "IN", "https://www.zohoapis.in"],
    ["au@example.test", "AU", "https://www.zohoapis.com.au"],
];
