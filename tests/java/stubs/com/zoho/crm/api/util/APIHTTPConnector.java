package com.zoho.crm.api.util;

/** A stand-in for the SDK's class of that name (tests only). */
public class APIHTTPConnector {
}
