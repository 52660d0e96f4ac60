package com.zoho.crm.api;

import com.zoho.crm.api.exception.SDKException;

/** A stand-in for the SDK's UserSignature, with its signatures (tests only). */
public class UserSignature {
    private String name;

    public UserSignature(String name) throws SDKException {
        if (name == null)
            throw new SDKException("MANDATORY VALUE ERROR", "Value missing or null - name");
        this.name = name;
    }

    public String getName() {
        return name;
    }
}
