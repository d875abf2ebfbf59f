-- Session refunds, agent spend on balance debits, and voids of x402 bookings.
--
-- session_debit_voids: a session refund that finds no debit of the usage id on that session
-- voids the pair, so a session debit of it arriving later is refused (metering gave up on a
-- slow debit: the abandoned call must never be charged). Written and read under the usage
-- id's advisory lock, like debit_voids.
--
-- x402_voids: one row per voided EIP-3009 booking (agent, nonce): `entry_id` is the reversing
-- ledger entry, NULL when there was no booking to reverse (then a later signing of that nonce
-- is refused). Written and read under the advisory lock hashtextextended('x402:' || agent_id
-- || ':' || nonce, 0).
--
-- ledger_debit is replaced (same arguments, same result) so that
--   * a session debit refuses a usage id voided for its session (status 'voided');
--   * the policy verdict (p_refusal) and the agent's spend limits (p_agent_id, p_periods,
--     p_limits, p_codes) apply whenever an agent is given, not only for session debits: a
--     balance debit with an agent id counts against that agent's spend. A balance debit
--     without one runs exactly the statements it ran before.
-- Everything else (lock, void check, claim, conditional UPDATE, postings, outbox row, the
-- order of refusals) is unchanged; see 20261210000000_debit_function.

-- CreateTable
CREATE TABLE "session_debit_voids" (
    "session_id" UUID NOT NULL,
    "usage_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "session_debit_voids_pkey" PRIMARY KEY ("session_id","usage_id")
);

-- CreateTable
CREATE TABLE "x402_voids" (
    "agent_id" UUID NOT NULL,
    "nonce" TEXT NOT NULL,
    "entry_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "x402_voids_pkey" PRIMARY KEY ("agent_id","nonce")
);

CREATE OR REPLACE FUNCTION "ledger_debit"(
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

    IF (p_check_void AND EXISTS (SELECT 1 FROM "debit_voids" d WHERE d."usage_id" = p_usage_id))
       OR (p_session_id IS NOT NULL AND EXISTS (SELECT 1 FROM "session_debit_voids" v WHERE v."session_id" = p_session_id AND v."usage_id" = p_usage_id)) THEN
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
        END IF;

        IF p_refusal IS NOT NULL THEN
            v_status := 'refused';
            v_refusal := p_refusal;
            RAISE EXCEPTION USING ERRCODE = 'P0402', MESSAGE = 'refused by policy';
        END IF;

        IF p_agent_id IS NOT NULL THEN
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
