-- PolyAI's Supabase memory: the table, its pgvector index and the match function its RPC calls.
-- Apply once per Supabase project (SQL editor, `supabase db push`, or psql against the database).
-- Idempotent. text-embedding-3-small gives 1536 dimensions; another embedding model needs another size.
create extension if not exists vector;

create table if not exists polyai_memory (
  id          bigserial primary key,
  market      text not null,
  question    text not null,
  summary     text not null,
  probability double precision not null check (probability between 0 and 1),
  confidence  int not null check (confidence between 0 and 100),
  yes_price   double precision not null,
  created_ms  bigint not null,
  embedding   vector(1536) not null
);

-- Cosine distance (<=>) is what the match function orders by; HNSW keeps the search sublinear.
create index if not exists polyai_memory_embedding_hnsw
  on polyai_memory using hnsw (embedding vector_cosine_ops);
create index if not exists polyai_memory_market on polyai_memory (market);

create or replace function match_polyai_memory(query_embedding vector(1536), match_count int)
returns table (market text, question text, summary text, probability double precision, confidence int,
               yes_price double precision, created_ms bigint, similarity double precision)
language sql stable as $$
  select m.market, m.question, m.summary, m.probability, m.confidence, m.yes_price, m.created_ms,
         1 - (m.embedding <=> query_embedding) as similarity
  from polyai_memory m
  order by m.embedding <=> query_embedding
  limit least(greatest(match_count, 0), 50)
$$;
