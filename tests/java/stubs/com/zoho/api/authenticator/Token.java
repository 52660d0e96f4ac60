package com.zoho.api.authenticator;

import com.zoho.crm.api.exception.SDKException;
import com.zoho.crm.api.util.APIHTTPConnector;

/** A stand-in for the SDK's Token, with its signatures (tests only). */
public interface Token {
    public void authenticate(APIHTTPConnector urlConnection) throws SDKException;

    public Boolean revoke(String id) throws SDKException;

    public void remove() throws SDKException;

    public void generateToken() throws SDKException;

    public String getId();
}
