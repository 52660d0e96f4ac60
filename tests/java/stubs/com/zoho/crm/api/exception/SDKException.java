package com.zoho.crm.api.exception;

/** A stand-in for the SDK's SDKException, with the constructors and
 * getters the adapter uses (tests only; the SDK's also take a JSONObject). */
@SuppressWarnings("serial")
public class SDKException extends Exception {
    private String code;
    private String message;
    private Exception cause;

    public SDKException(String code, String message, Exception cause) {
        super(message, cause);
        this.code = code;
        this.message = message;
        this.cause = cause;
    }

    public SDKException(String code, String message) {
        this(code, message, null);
    }

    public SDKException(String message, Exception cause) {
        this(null, message, cause);
    }

    public SDKException(Exception cause) {
        this(null, cause.getMessage(), cause);
    }

    public String getCode() {
        return code;
    }

    @Override
    public String getMessage() {
        return message;
    }

    @Override
    public Throwable getCause() {
        return cause;
    }
}
