export {
  createReceiptsWriter,
  type ReceiptsComponents,
  type ReceiptsEvents,
  type ReceiptsInit,
  type ReceiptsStore,
  type ReceiptsWriter,
} from './receipts-writer.js'
