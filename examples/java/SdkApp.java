import com.zoho.api.authenticator.OAuthToken;
import com.zoho.crm.api.Initializer;
import com.zoho.crm.api.UserSignature;
import com.zoho.crm.api.apis.APIsOperations;
import com.zoho.crm.api.dc.USDataCenter;

import org.tokenstore.zoho.SDKTokenStore;

/**
 * examples/java/SdkApp.java - a Zoho CRM Java SDK application whose OAuth
 * tokens live in a tokenstore store.
 *
 * The SDK is unmodified: it is handed SDKTokenStore as its store. The
 * store is the configured one ($TOKENSTORE_CONFIG, here a sqlite file),
 * and refresh ahead is on (60 s before expiry unless the config's "oauth"
 * section says otherwise), so however many JVMs run this program, one
 * refresh request per expiry reaches Zoho. See README.md beside it.
 */
public final class SdkApp {
    private SdkApp() {}

    public static void main(String[] args) throws Exception {
        String user = args.length > 0 ? args[0] : "me@example.com";
        try (SDKTokenStore store = new SDKTokenStore()) {
            // The first run needs a grant token (or a refresh token) for the
            // user; later runs find everything else in the store.
            OAuthToken.Builder builder = new OAuthToken.Builder().userSignature(new UserSignature(user));
            String grant = System.getenv("ZOHO_GRANT_TOKEN");
            if (grant != null)
                builder.clientID(System.getenv("ZOHO_CLIENT_ID"))
                    .clientSecret(System.getenv("ZOHO_CLIENT_SECRET")).grantToken(grant);
            OAuthToken token = builder.build();
            new Initializer.Builder().environment(USDataCenter.PRODUCTION).token(token).store(store)
                .initialize();
            int status = new APIsOperations(null).getSupportedAPI().getStatusCode();
            System.out.println("token " + token.getId() + ": the CRM answered HTTP " + status);
        }
    }
}
