package com.zoho.api.authenticator.store;

import java.util.List;

import com.zoho.api.authenticator.Token;
import com.zoho.crm.api.exception.SDKException;

/** A stand-in for the Zoho CRM Java SDK's interface, with its signatures,
 * for the tests only: the adapter is compiled against it to be tested
 * without the SDK. */
public interface TokenStore {
    public Token findToken(Token token) throws SDKException;

    public Token findTokenById(String id) throws SDKException;

    public void saveToken(Token token) throws SDKException;

    public void deleteToken(String id) throws SDKException;

    public List<Token> getTokens() throws SDKException;

    public void deleteTokens() throws SDKException;
}
