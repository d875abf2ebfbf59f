-- A per-call debit in ONE statement (one round trip), so the buyer's ledger_accounts row is
-- locked for the time the function runs rather than across several client round trips.
-- Same invariants as the TypeScript path it replaces (services/wallets/README.md):
--   * usage ids serialize on the same transaction-scoped advisory lock as refunds
--     (hashtextextended('usage:' || usage_id, 0)), and a voided usage id is refused;
--   * the idempotency key is claimed with INSERT ... ON CONFLICT DO NOTHING; a replay answers
--     the stored entry's metadata and balance_after without touching a balance;
--   * the guarded account is taken from only by the conditional UPDATE (balance >= amount);
--     the CHECK constraint, append-only and balanced-entry triggers still apply;
--   * accounts are locked in the order the caller passes (TypeScript lockOrder);
--   * the outbox row (envelope built by @platform/events createEnvelope) is written in the
--     same transaction as the entry.
-- Session debits (p_session_id set) also count the debit on the open, unexpired session,
-- apply the agent's policy verdict computed by the caller (p_refusal), and add to the agent's
-- spend within its limits (agent_spend), refusing in the TypeScript path's order.
-- Any refusal undoes the claim and every write through the sub-block's rollback.
CREATE FUNCTION "ledger_debit"(
    p_usage_id TEXT,
    p_entry_id UUID,
    p_key TEXT,
    p_kind TEXT,
    p_metadata JSONB,
    p_owners TEXT[],
    p_kinds TEXT[],
    p_amounts BIGINT[],
    p_guarded BOOLEAN[],
    p_currency TEXT,
    p_envelope JSONB,
    p_check_void BOOLEAN DEFAULT TRUE,
    p_session_id UUID DEFAULT NULL,
    p_now TIMESTAMPTZ DEFAULT NULL,
    p_refusal TEXT DEFAULT NULL,
    p_agent_id UUID DEFAULT NULL,
    p_periods TEXT[] DEFAULT NULL,
    p_limits BIGINT[] DEFAULT NULL,
    p_codes TEXT[] DEFAULT NULL
) RETURNS TABLE (
    "status" TEXT,
    "entry_id" UUID,
    "metadata" JSONB,
    "owners" TEXT[],
    "kinds" TEXT[],
    "balances_after" BIGINT[],
    "available" BIGINT,
    "session_used" BIGINT,
    "session_calls" INT,
    "refusal" TEXT,
    "spent" BIGINT,
    "spend_limit" BIGINT
) LANGUAGE plpgsql AS $$
DECLARE
    v_claimed UUID;
    v_id UUID;
    v_balance BIGINT;
    v_after BIGINT[] := '{}';
    v_short INT;
    v_status TEXT;
    v_refusal TEXT;
    v_used BIGINT;
    v_calls INT;
    v_spent BIGINT;
    v_debit BIGINT;
    i INT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('usage:' || p_usage_id, 0));

    IF p_check_void AND EXISTS (SELECT 1 FROM "debit_voids" d WHERE d."usage_id" = p_usage_id) THEN
        RETURN QUERY SELECT 'voided'::TEXT, NULL::UUID, NULL::JSONB, NULL::TEXT[], NULL::TEXT[], NULL::BIGINT[], NULL::BIGINT, NULL::BIGINT, NULL::INT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;

    BEGIN
        INSERT INTO "ledger_entries" ("id", "idempotency_key", "kind", "metadata")
        VALUES (p_entry_id, p_key, p_kind, p_metadata)
        ON CONFLICT ("idempotency_key") DO NOTHING
        RETURNING "ledger_entries"."id" INTO v_claimed;

        IF v_claimed IS NULL THEN
            -- A replay: the original committed before this one got the usage lock.
            IF p_session_id IS NOT NULL THEN
                SELECT s."used_amount", s."call_count" INTO v_used, v_calls FROM "payment_sessions" s WHERE s."id" = p_session_id;
            END IF;
            RETURN QUERY
                SELECT 'duplicate'::TEXT, e."id", e."metadata",
                       array_agg(a."owner_id" ORDER BY a."owner_id", a."kind"),
                       array_agg(a."kind" ORDER BY a."owner_id", a."kind"),
                       array_agg(p."balance_after" ORDER BY a."owner_id", a."kind"),
                       NULL::BIGINT, v_used, v_calls, NULL::TEXT, NULL::BIGINT, NULL::BIGINT
                FROM "ledger_entries" e
                JOIN "ledger_postings" p ON p."entry_id" = e."id"
                JOIN "ledger_accounts" a ON a."id" = p."account_id"
                WHERE e."idempotency_key" = p_key
                GROUP BY e."id", e."metadata";
            RETURN;
        END IF;

        FOR i IN 1 .. array_length(p_owners, 1) LOOP
            IF p_guarded[i] AND p_amounts[i] < 0 THEN
                v_debit := -p_amounts[i];
                UPDATE "ledger_accounts" a SET "balance" = a."balance" + p_amounts[i]
                WHERE a."owner_id" = p_owners[i] AND a."kind" = p_kinds[i] AND a."currency" = p_currency AND a."balance" >= -p_amounts[i]
                RETURNING a."id", a."balance" INTO v_id, v_balance;
                IF v_id IS NULL THEN
                    v_short := i;
                    v_status := 'insufficient';
                    RAISE EXCEPTION USING ERRCODE = 'P0402', MESSAGE = 'insufficient';
                END IF;
            ELSE
                INSERT INTO "ledger_accounts" AS a ("id", "owner_id", "kind", "currency", "balance")
                VALUES (gen_random_uuid(), p_owners[i], p_kinds[i], p_currency, p_amounts[i])
                ON CONFLICT ("owner_id", "kind", "currency") DO UPDATE SET "balance" = a."balance" + EXCLUDED."balance"
                RETURNING a."id", a."balance" INTO v_id, v_balance;
            END IF;
            INSERT INTO "ledger_postings" ("entry_id", "account_id", "amount", "balance_after")
            VALUES (p_entry_id, v_id, p_amounts[i], v_balance);
            v_after := v_after || v_balance;
            v_id := NULL;
        END LOOP;

        IF p_session_id IS NOT NULL THEN
            UPDATE "payment_sessions" s SET "used_amount" = s."used_amount" + v_debit, "call_count" = s."call_count" + 1, "updated_at" = p_now
            WHERE s."id" = p_session_id AND s."status" = 'open' AND s."expires_at" > p_now
            RETURNING s."used_amount", s."call_count" INTO v_used, v_calls;
            IF v_used IS NULL THEN
                v_status := 'session';
                RAISE EXCEPTION USING ERRCODE = 'P0402', MESSAGE = 'session not open';
            END IF;
            IF p_refusal IS NOT NULL THEN
                v_status := 'refused';
                v_refusal := p_refusal;
                RAISE EXCEPTION USING ERRCODE = 'P0402', MESSAGE = 'refused by policy';
            END IF;
            FOR i IN 1 .. COALESCE(array_length(p_periods, 1), 0) LOOP
                v_spent := NULL;
                IF p_limits[i] IS NULL THEN
                    INSERT INTO "agent_spend" AS sp ("agent_id", "period", "spent") VALUES (p_agent_id, p_periods[i], v_debit)
                    ON CONFLICT ("agent_id", "period") DO UPDATE SET "spent" = sp."spent" + EXCLUDED."spent";
                ELSE
                    INSERT INTO "agent_spend" AS sp ("agent_id", "period", "spent")
                    SELECT p_agent_id, p_periods[i], v_debit WHERE v_debit <= p_limits[i]
                    ON CONFLICT ("agent_id", "period") DO UPDATE SET "spent" = sp."spent" + EXCLUDED."spent"
                        WHERE sp."spent" + EXCLUDED."spent" <= p_limits[i]
                    RETURNING sp."spent" INTO v_spent;
                    IF v_spent IS NULL THEN
                        v_status := 'spend';
                        v_short := i;
                        v_refusal := p_codes[i];
                        RAISE EXCEPTION USING ERRCODE = 'P0402', MESSAGE = 'over a spend limit';
                    END IF;
                END IF;
            END LOOP;
        END IF;

        INSERT INTO "outbox_events" ("id", "type", "subject", "envelope")
        VALUES ((p_envelope->>'id')::UUID, p_envelope->>'type', p_envelope->>'subject', p_envelope);
    EXCEPTION WHEN SQLSTATE 'P0402' THEN
        IF v_status = 'insufficient' THEN
            SELECT a."balance" INTO v_balance FROM "ledger_accounts" a
            WHERE a."owner_id" = p_owners[v_short] AND a."kind" = p_kinds[v_short] AND a."currency" = p_currency;
            RETURN QUERY SELECT 'insufficient'::TEXT, NULL::UUID, NULL::JSONB, ARRAY[p_owners[v_short]], ARRAY[p_kinds[v_short]], NULL::BIGINT[], COALESCE(v_balance, 0), NULL::BIGINT, NULL::INT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT;
        ELSIF v_status = 'session' THEN
            -- An open row here is past expires_at; anything else is closing or closed.
            SELECT s."status" INTO v_refusal FROM "payment_sessions" s WHERE s."id" = p_session_id;
            RETURN QUERY SELECT 'refused'::TEXT, NULL::UUID, NULL::JSONB, NULL::TEXT[], NULL::TEXT[], NULL::BIGINT[], NULL::BIGINT, NULL::BIGINT, NULL::INT,
                CASE WHEN v_refusal = 'open' THEN 'session_expired' ELSE 'session_closed' END, NULL::BIGINT, NULL::BIGINT;
        ELSIF v_status = 'spend' THEN
            SELECT sp."spent" INTO v_spent FROM "agent_spend" sp WHERE sp."agent_id" = p_agent_id AND sp."period" = p_periods[v_short];
            RETURN QUERY SELECT 'refused'::TEXT, NULL::UUID, NULL::JSONB, NULL::TEXT[], NULL::TEXT[], NULL::BIGINT[], NULL::BIGINT, NULL::BIGINT, NULL::INT,
                v_refusal, COALESCE(v_spent, 0), p_limits[v_short];
        ELSE
            RETURN QUERY SELECT 'refused'::TEXT, NULL::UUID, NULL::JSONB, NULL::TEXT[], NULL::TEXT[], NULL::BIGINT[], NULL::BIGINT, NULL::BIGINT, NULL::INT, v_refusal, NULL::BIGINT, NULL::BIGINT;
        END IF;
        RETURN;
    END;

    RETURN QUERY SELECT 'posted'::TEXT, p_entry_id, p_metadata, p_owners, p_kinds, v_after, NULL::BIGINT, v_used, v_calls, NULL::TEXT, NULL::BIGINT, NULL::BIGINT;
END;
$$;
