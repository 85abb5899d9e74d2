package journeytriggers.engine;

import java.util.Arrays;
import java.util.Objects;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * What a candidate needs of its anchor event, taken when the anchor is evaluated so that no
 * record is kept: its time, id, type, customer, the payload texts and the cart's product ids.
 */
public final class AnchorInfo {

    private static final String[] CART = {"properties", "cart"};

    final long tsMs;
    final String eventId;
    final String eventType;
    final String customerId;
    /** Payload texts, in the rule's payload order (entries may be null). */
    final String[] payload;
    /** The cart's product ids, or null without a cart. */
    final String[] cart;
    /** The anchor event's extras (EngineEvent.extras), or null. */
    final String extras;

    AnchorInfo(long tsMs, String eventId, String eventType, String customerId, String[] payload, String[] cart) {
        this(tsMs, eventId, eventType, customerId, payload, cart, null);
    }

    AnchorInfo(
            long tsMs, String eventId, String eventType, String customerId, String[] payload, String[] cart,
            String extras) {
        this.tsMs = tsMs;
        this.eventId = eventId;
        this.eventType = eventType;
        this.customerId = customerId;
        this.payload = payload;
        this.cart = cart;
        this.extras = extras;
    }

    static AnchorInfo of(Rule rule, EngineEvent event) {
        JsonNode record = event.record();
        String[] payload = new String[rule.payloadPaths.length];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = PyText.payloadText(Json.scalar(record, rule.payloadPaths[i]));
        }
        return new AnchorInfo(
                event.tsMs(), event.eventId(), event.eventType(), event.customerId(), payload, cart(record),
                event.extras());
    }

    /** {@code events.cart_products}: the product ids of properties.cart, if it is a list. */
    static String[] cart(JsonNode record) {
        JsonNode cart = Json.walk(record, CART);
        if (cart == null || !cart.isArray()) {
            return null;
        }
        String[] products = new String[cart.size()];
        for (int i = 0; i < products.length; i++) {
            JsonNode id = cart.get(i).get("product_id");
            products[i] = id == null ? null : PyText.payloadText(id);
        }
        return products;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof AnchorInfo)) {
            return false;
        }
        AnchorInfo that = (AnchorInfo) other;
        return tsMs == that.tsMs
                && eventId.equals(that.eventId)
                && eventType.equals(that.eventType)
                && customerId.equals(that.customerId)
                && Arrays.equals(payload, that.payload)
                && Arrays.equals(cart, that.cart)
                && Objects.equals(extras, that.extras);
    }

    @Override
    public int hashCode() {
        return Objects.hash(tsMs, eventId, customerId);
    }
}
