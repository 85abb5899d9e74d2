package journeytriggers.bench;

/** A cart-abandonment alert of the CEP baseline: whose cart, and when it was added. */
public class Alert {

    public String customer;

    public long cartTs;

    public Alert() {}

    public Alert(String customer, long cartTs) {
        this.customer = customer;
        this.cartTs = cartTs;
    }
}
